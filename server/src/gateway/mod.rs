//! The agent gateway: where nodes connect, over TLS with the cluster CA, to
//! fetch the CA, to join, and to hold their session (the protocol is in
//! `shoal_proto::wire`). Agents dial out to it, so nodes behind NAT work.

mod admission;
mod assignments;
mod session;
mod tls;

use std::{net::SocketAddr, time::Duration};

use shoal_proto::{
    framing::ServerFrames,
    wire::{AgentMessage, PROTOCOL_VERSION, Refusal, RefusalCode, ServerMessage},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    task::JoinSet,
    time::timeout,
};
use tokio_rustls::TlsAcceptor;

use self::admission::{Admission, Slot};
use crate::{
    ca,
    changes::Changes,
    config::AgentSettings,
    ctx::Ctx,
    error::{AppError, StartupError},
    ops,
};

/// A peer that connects must finish the handshake and say what it wants
/// within this time, so idle connections cannot pile up.
const OPENING_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Gateway {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ctx: Ctx,
}

impl Gateway {
    /// Listens for agents and settles the address they are told to dial
    /// (`ctx.agent_address`, which join commands show); the gateway's
    /// certificate is made for that address, the listener's and this host.
    pub async fn bind(settings: &AgentSettings, ctx: &mut Ctx, hostname: &str) -> Result<Self, StartupError> {
        let bind_error = |source| StartupError::AgentBind {
            addr: settings.listen,
            source,
        };
        let listener = TcpListener::bind(settings.listen).await.map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        ctx.agent_address = advertised_address(settings.advertise.as_deref(), bound, hostname).into();
        let names = certificate_names(bound, &ctx.agent_address, hostname);
        let config = tls::server_config(&ctx.ca, &names)?;
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(config),
            ctx: ctx.clone(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves agents until the returned future is dropped, which also ends
    /// every connection it accepted.
    pub async fn run(self) {
        let mut connections = JoinSet::new();
        connections.spawn(expire_silent_nodes(self.ctx.clone()));
        let admission = Admission::default();
        loop {
            // Reap finished connections so the set does not grow.
            while connections.try_join_next().is_some() {}
            match self.listener.accept().await {
                Ok((tcp, peer)) => {
                    // Past the limits the connection is dropped, so closed.
                    if let Some(slot) = admission.admit(peer.ip()) {
                        connections.spawn(serve(self.ctx.clone(), self.acceptor.clone(), tcp, peer, slot));
                    }
                }
                Err(error) => {
                    // Typically out of file descriptors: wait for some to free up.
                    tracing::warn!(%error, "cannot accept an agent connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// The address to put in join commands: the one given, completed with the
/// listening port; otherwise the listening address, or this host's name when
/// listening on every interface.
pub fn advertised_address(advertise: Option<&str>, bound: SocketAddr, hostname: &str) -> String {
    let port = bound.port();
    match advertise {
        Some(addr) if split_port(addr).1.is_some() => addr.to_owned(),
        Some(host) if host.contains(':') => format!("[{host}]:{port}"),
        Some(host) => format!("{host}:{port}"),
        None if bound.ip().is_unspecified() => format!("{hostname}:{port}"),
        None => bound.to_string(),
    }
}

/// `host:port`, `[v6]:port`, `host`, or a bare IPv6 address (no port).
fn split_port(addr: &str) -> (&str, Option<&str>) {
    if let Some(rest) = addr.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((host, port)) => (host, Some(port)),
            None => (rest.trim_end_matches(']'), None),
        };
    }
    match addr.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        _ => (addr, None),
    }
}

/// Agents verify the fixed `SERVER_NAME`; the other names serve people and
/// tools (`openssl s_client`) that check the address they dialled.
fn certificate_names(bound: SocketAddr, advertised: &str, hostname: &str) -> Vec<String> {
    let mut names = vec![
        shoal_proto::wire::SERVER_NAME.to_owned(),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        hostname.to_owned(),
        split_port(advertised).0.to_owned(),
    ];
    if !bound.ip().is_unspecified() {
        names.push(bound.ip().to_string());
    }
    names.retain(|name| !name.is_empty());
    names.sort();
    names.dedup();
    names
}

/// After a restart, nodes that do not reconnect within the time they would
/// have to send their heartbeats are down rather than forever unknown.
async fn expire_silent_nodes(ctx: Ctx) {
    tokio::time::sleep(ctx.heartbeat.tolerance()).await;
    for id in ctx.presence.expire_silent() {
        Changes::new().node_status(&id).tell(&ctx).await;
    }
}

async fn serve(ctx: Ctx, acceptor: TlsAcceptor, tcp: TcpStream, peer: SocketAddr, slot: Slot) {
    let stream = match timeout(OPENING_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "agent TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "agent TLS handshake timed out");
            return;
        }
    };
    let fingerprint = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|certificate| ca::fingerprint(certificate));
    let mut frames = ServerFrames::opening(stream);
    let opening = match timeout(OPENING_TIMEOUT, frames.recv()).await {
        Ok(Some(Ok(message))) => message,
        Ok(Some(Err(error))) => {
            let refusal = invalid(format!(
                "{error}; is the agent a different version than the server?"
            ));
            return finish(frames, Err(refusal)).await;
        }
        Ok(None) | Err(_) => return,
    };
    let reply = match opening {
        AgentMessage::FetchCa { protocol } => {
            check_protocol(protocol).map(|()| ServerMessage::CaCertificate {
                pem: ctx.ca.certificate_pem().to_owned(),
            })
        }
        AgentMessage::Join(request) => match check_protocol(request.protocol) {
            Ok(()) => ops::nodes::join(&ctx, request, peer.ip())
                .await
                .map(ServerMessage::Joined)
                .map_err(refusal),
            Err(refused) => Err(refused),
        },
        AgentMessage::Hello { protocol } => match check_protocol(protocol) {
            Ok(()) => return session::run(ctx, frames, fingerprint, peer, slot).await,
            Err(refused) => Err(refused),
        },
        AgentMessage::Inventory(_)
        | AgentMessage::Heartbeat
        | AgentMessage::TaskStatus(_)
        | AgentMessage::IngressStatus(_) => {
            Err(invalid("a connection starts with fetch_ca, join or hello".into()))
        }
    };
    finish(frames, reply).await;
}

/// Sends the last message of a connection and closes it.
async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
    mut frames: ServerFrames<S>,
    reply: Result<ServerMessage, Refusal>,
) {
    let reply = reply.unwrap_or_else(ServerMessage::Refused);
    if frames.send(&reply).await.is_ok() {
        let _ = frames.close().await;
    }
}

fn check_protocol(protocol: u32) -> Result<(), Refusal> {
    if protocol == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(Refusal {
            code: RefusalCode::UnsupportedProtocol,
            message: format!(
                "the agent speaks protocol {protocol} and this server ({}) speaks {PROTOCOL_VERSION}: \
                 run an agent of the server's version",
                env!("CARGO_PKG_VERSION")
            ),
        })
    }
}

fn invalid(message: String) -> Refusal {
    Refusal {
        code: RefusalCode::Invalid,
        message,
    }
}

/// An operation's error as the agent is told it.
fn refusal(error: AppError) -> Refusal {
    let code = match &error {
        AppError::BadCredentials(_) => RefusalCode::BadToken,
        AppError::Internal(_) | AppError::Unavailable(_) => RefusalCode::Unavailable,
        _ => RefusalCode::Invalid,
    };
    Refusal {
        code,
        message: error.public_message(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_advertised_address_completes_what_is_given() {
        let any = addr("0.0.0.0:8302");
        assert_eq!(advertised_address(None, any, "mgr-1"), "mgr-1:8302");
        assert_eq!(
            advertised_address(None, addr("10.0.0.5:9000"), "mgr-1"),
            "10.0.0.5:9000"
        );
        assert_eq!(
            advertised_address(Some("shoal.example"), any, "mgr-1"),
            "shoal.example:8302"
        );
        assert_eq!(
            advertised_address(Some("shoal.example:443"), any, "mgr-1"),
            "shoal.example:443"
        );
        assert_eq!(
            advertised_address(Some("fd00::1"), any, "mgr-1"),
            "[fd00::1]:8302"
        );
        assert_eq!(
            advertised_address(Some("[fd00::1]:9"), any, "mgr-1"),
            "[fd00::1]:9"
        );
    }

    #[test]
    fn the_certificate_names_every_way_to_the_gateway() {
        let names = certificate_names(addr("10.0.0.5:8302"), "shoal.example:443", "mgr-1");
        for name in [
            "shoal-server",
            "localhost",
            "127.0.0.1",
            "mgr-1",
            "shoal.example",
            "10.0.0.5",
        ] {
            assert!(names.contains(&name.to_owned()), "{name} missing from {names:?}");
        }
        let names = certificate_names(addr("0.0.0.0:8302"), "[fd00::1]:8302", "mgr-1");
        assert!(names.contains(&"fd00::1".to_owned()), "{names:?}");
        assert!(!names.contains(&"0.0.0.0".to_owned()), "{names:?}");
    }

    #[test]
    fn operation_errors_become_refusals_the_agent_can_act_on() {
        assert_eq!(
            refusal(AppError::BadCredentials("no".into())).code,
            RefusalCode::BadToken
        );
        assert_eq!(
            refusal(AppError::Internal("disk".into())).code,
            RefusalCode::Unavailable
        );
        assert!(
            !refusal(AppError::Internal("disk".into()))
                .message
                .contains("disk")
        );
        assert_eq!(
            check_protocol(2).unwrap_err().code,
            RefusalCode::UnsupportedProtocol
        );
    }
}
