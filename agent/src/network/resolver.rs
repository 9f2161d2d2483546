//! The resolver inside each container on a service network, at
//! `127.0.0.53:53`: cluster names are answered from the container's view,
//! every other name is asked of the host's own resolvers (those in the
//! host's `/etc/resolv.conf`, read when the agent starts) from a socket in
//! the agent's namespace, and the answer relayed as it came.
//!
//! Queries over UDP arrive on the container's datagram socket; queries over
//! TCP (a client retrying a truncated answer) arrive on the container's one
//! TCP listener, shared with the virtual addresses, and are handed here.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    sync::{Semaphore, watch},
    time::{sleep, timeout},
};

use super::{
    dns::{
        Response,
        message::{MAX_QUERY, MAX_TCP_ANSWER, MAX_UDP_ANSWER, answers, server_failure},
        respond,
    },
    view::View,
};

/// Where the host's resolvers are listed.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// As glibc: the first three `nameserver` lines count.
const MAX_UPSTREAMS: usize = 3;
/// Each upstream resolver gets this long before the next is asked; the
/// client asks again meanwhile (its `timeout:1`), which is forwarded anew.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// Forwarded queries one container may have waiting at once: a container
/// flooding queries must not hold a socket each without end.
const FORWARDS_PER_CONTAINER: usize = 64;
/// DNS-over-TCP connections one container may hold at once.
const TCP_CLIENTS_PER_CONTAINER: usize = 16;
/// A DNS-over-TCP client silent this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The host's resolvers, in the order to ask them.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            // An IPv6 address may carry a zone (`fe80::1%eth0`), which
            // std cannot parse; such resolvers are left out.
            words.next()?.parse::<IpAddr>().ok()
        })
        .take(MAX_UPSTREAMS)
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The host's resolvers, as its `/etc/resolv.conf` names them now; none if
/// it cannot be read.
pub fn host_nameservers() -> Vec<SocketAddr> {
    std::fs::read_to_string(HOST_RESOLV_CONF)
        .map(|text| nameservers(&text))
        .unwrap_or_default()
}

/// [`host_nameservers`], for the agent's life: read once at start.
pub fn host_upstreams() -> Arc<[SocketAddr]> {
    let upstreams = host_nameservers();
    if upstreams.is_empty() {
        tracing::warn!(
            "{HOST_RESOLV_CONF} cannot be read or names no nameserver the agent can use; containers on \
             service networks resolve only cluster names (see `shoal-agent doctor`)"
        );
    }
    upstreams.into()
}

/// What every server of one container shares.
#[derive(Clone)]
pub struct Resolver {
    view: watch::Receiver<Arc<View>>,
    upstreams: Arc<[SocketAddr]>,
    forwards: Arc<Semaphore>,
    tcp_clients: Arc<Semaphore>,
}

impl Resolver {
    pub fn new(view: watch::Receiver<Arc<View>>, upstreams: Arc<[SocketAddr]>) -> Self {
        Self {
            view,
            upstreams,
            forwards: Arc::new(Semaphore::new(FORWARDS_PER_CONTAINER)),
            tcp_clients: Arc::new(Semaphore::new(TCP_CLIENTS_PER_CONTAINER)),
        }
    }

    fn respond(&self, packet: &[u8], limit: usize) -> Response {
        respond(&self.view.borrow().names, packet, limit)
    }

    /// Answers the container's datagrams until dropped.
    pub async fn serve_udp(self, socket: UdpSocket) {
        let socket = Arc::new(socket);
        // One byte more than a query may have, to tell an oversized one.
        let mut buffer = vec![0; MAX_QUERY + 1];
        loop {
            let (length, client) = match socket.recv_from(&mut buffer).await {
                Ok(received) => received,
                Err(error) => {
                    tracing::debug!("service network resolver: {error}");
                    sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let packet = &buffer[..length];
            match self.respond(packet, MAX_UDP_ANSWER) {
                Response::Answer(answer) => {
                    let _ = socket.send_to(&answer, client).await;
                }
                Response::Ignore => {}
                Response::Forward(query) => {
                    // Past the cap the query is dropped: the client asks again.
                    let Ok(permit) = Arc::clone(&self.forwards).try_acquire_owned() else {
                        continue;
                    };
                    let (socket, packet, upstreams) =
                        (Arc::clone(&socket), packet.to_vec(), Arc::clone(&self.upstreams));
                    tokio::spawn(async move {
                        let _permit = permit;
                        let answer = ask_over_udp(&upstreams, &packet, query.id)
                            .await
                            .unwrap_or_else(|| server_failure(&query));
                        let _ = socket.send_to(&answer, client).await;
                    });
                }
            }
        }
    }

    /// Answers one DNS-over-TCP client: any number of queries, each with
    /// its two-byte length, until it closes or idles.
    pub async fn serve_tcp(self, mut client: TcpStream) {
        let Ok(_permit) = Arc::clone(&self.tcp_clients).try_acquire_owned() else {
            return;
        };
        let mut buffer = vec![0; MAX_QUERY];
        loop {
            let Ok(Ok(length)) = timeout(TCP_IDLE, client.read_u16()).await else {
                return;
            };
            let length = usize::from(length);
            if length > MAX_QUERY {
                return;
            }
            if !matches!(
                timeout(TCP_IDLE, client.read_exact(&mut buffer[..length])).await,
                Ok(Ok(_))
            ) {
                return;
            }
            let packet = &buffer[..length];
            let answer = match self.respond(packet, MAX_TCP_ANSWER) {
                Response::Answer(answer) => answer,
                Response::Ignore => return,
                Response::Forward(query) => ask_over_tcp(&self.upstreams, packet, query.id)
                    .await
                    .unwrap_or_else(|| server_failure(&query)),
            };
            let Ok(length) = u16::try_from(answer.len()) else {
                return;
            };
            if client.write_u16(length).await.is_err() || client.write_all(&answer).await.is_err() {
                return;
            }
        }
    }
}

/// The first upstream's answer to `query`, trying each in turn. Each try
/// has a fresh socket in the agent's namespace with a port of the kernel's
/// choosing, and only an answer with the query's id from the upstream it
/// was sent to is taken.
async fn ask_over_udp(upstreams: &[SocketAddr], query: &[u8], id: u16) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        let attempt = async {
            let socket = UdpSocket::bind(unspecified(upstream)).await.ok()?;
            socket.connect(upstream).await.ok()?;
            socket.send(query).await.ok()?;
            let mut buffer = vec![0; MAX_TCP_ANSWER];
            loop {
                let length = socket.recv(&mut buffer).await.ok()?;
                if answers(&buffer[..length], id) {
                    buffer.truncate(length);
                    return Some(buffer);
                }
            }
        };
        if let Ok(Some(answer)) = timeout(UPSTREAM_TIMEOUT, attempt).await {
            return Some(answer);
        }
        tracing::debug!(%upstream, "upstream resolver did not answer in time");
    }
    None
}

/// As [`ask_over_udp`], over TCP: the client asked over TCP because an
/// answer did not fit a datagram.
async fn ask_over_tcp(upstreams: &[SocketAddr], query: &[u8], id: u16) -> Option<Vec<u8>> {
    let length = u16::try_from(query.len()).ok()?;
    for &upstream in upstreams {
        let attempt = async {
            let mut stream = TcpStream::connect(upstream).await.ok()?;
            stream.write_u16(length).await.ok()?;
            stream.write_all(query).await.ok()?;
            let mut answer = vec![0; usize::from(stream.read_u16().await.ok()?)];
            stream.read_exact(&mut answer).await.ok()?;
            answers(&answer, id).then_some(answer)
        };
        if let Ok(Some(answer)) = timeout(UPSTREAM_TIMEOUT, attempt).await {
            return Some(answer);
        }
    }
    None
}

fn unspecified(upstream: SocketAddr) -> SocketAddr {
    let ip = match upstream {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_three_usable_nameservers_are_the_upstreams() {
        let conf = "\
# generated
search corp.example
nameserver 10.255.255.53
nameserver fe80::1%eth0
options edns0
nameserver ::1
nameserver\tnot-an-address
nameserver 192.0.2.1
nameserver 192.0.2.2
";
        let found: Vec<String> = nameservers(conf).iter().map(ToString::to_string).collect();
        assert_eq!(found, ["10.255.255.53:53", "[::1]:53", "192.0.2.1:53"]);
        assert!(nameservers("").is_empty());
    }

    /// A stand-in upstream that answers every query with `rcode` after a
    /// decoy from the wrong id.
    async fn upstream(rcode: u8) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buffer = [0; 512];
            loop {
                let (length, client) = socket.recv_from(&mut buffer).await.unwrap();
                let mut answer = buffer[..length].to_vec();
                answer[2] |= 0x80;
                answer[3] = (answer[3] & 0xF0) | rcode;
                let mut decoy = answer.clone();
                decoy[0] ^= 0xFF;
                socket.send_to(&decoy, client).await.unwrap();
                socket.send_to(&answer, client).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_forwarded_query_gets_the_upstreams_answer_to_its_id_only() {
        let query = crate::network::dns::message::tests::query(0x4242, "example.com", 1);
        // A silent upstream first: the next one is asked after its timeout.
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let upstreams = [silent.local_addr().unwrap(), upstream(3).await];
        let answer = ask_over_udp(&upstreams, &query, 0x4242).await.unwrap();
        assert!(answers(&answer, 0x4242));
        assert_eq!(answer[3] & 0xF, 3);
        assert_eq!(ask_over_udp(&[], &query, 0x4242).await, None);
    }
}
