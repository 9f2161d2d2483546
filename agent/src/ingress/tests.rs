//! The mesh with real loopback sockets: clients, the proxy and backends all
//! in one process.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use shoal_proto::{
    service::Protocol,
    wire::{Backend, IngressPort, IngressStatus, IngressTable, ListenerStatus},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    time::{Instant, sleep, timeout},
};

use super::*;

pub(super) const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A port nothing listens on (for a moment: the kernel hands out ports in
/// turn, so it is not handed out again soon).
pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A backend that says its name on every connection, then echoes until the
/// client stops sending, and closes.
pub(super) async fn greeter(name: &'static str) -> SocketAddr {
    counted_greeter(name).await.0
}

/// A [`greeter`] that counts the connections it accepted.
async fn counted_greeter(name: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                stream.write_all(format!("{name}\n").as_bytes()).await.unwrap();
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    (addr, accepted)
}

pub(super) fn table(version: u64, published: u16, backends: &[(&str, SocketAddr)]) -> IngressTable {
    IngressTable {
        version,
        ports: vec![IngressPort {
            published,
            protocol: Protocol::Tcp,
            service_id: "s1".into(),
            service_name: "web".into(),
            backends: backends
                .iter()
                .map(|(task_id, addr)| Backend {
                    task_id: (*task_id).into(),
                    node_id: "n1".into(),
                    addr: addr.to_string(),
                })
                .collect(),
        }],
        services: Vec::new(),
    }
}

async fn connect(ingress: &Ingress, published: u16) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(ingress.listen_addr(published)).await.unwrap())
}

pub(super) async fn line(stream: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    timeout(Duration::from_secs(5), stream.read_line(&mut line))
        .await
        .expect("no answer through the proxy")
        .unwrap();
    line
}

/// The port's status once `done` holds, or the last one seen.
async fn port_status(ingress: &Ingress, done: impl Fn(&ListenerStatus) -> bool) -> ListenerStatus {
    status_when(ingress, |status| done(&status.ports[0])).await.ports[0].clone()
}

/// The mesh's status once `done` holds, or the last one seen.
async fn status_when(ingress: &Ingress, done: impl Fn(&IngressStatus) -> bool) -> IngressStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = ingress.status().unwrap();
        if done(&status) || Instant::now() > deadline {
            return status;
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// Caps of `per_port` and `total`, and a long idle timeout unless a test
/// is about it.
fn limits(per_port: usize, total: usize) -> Limits {
    Limits {
        per_port,
        total,
        idle_timeout: Duration::from_secs(60),
    }
}

/// What a client sees first: its backend's greeting, or the agent's close.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reception {
    Greeted(String),
    Closed,
}

pub(super) async fn reception(client: &mut BufReader<TcpStream>) -> Reception {
    let mut line = String::new();
    let read = timeout(Duration::from_secs(5), client.read_line(&mut line))
        .await
        .expect("the client was neither proxied nor closed");
    match read {
        Ok(0) | Err(_) => Reception::Closed,
        Ok(_) => Reception::Greeted(line),
    }
}

/// The line for `family` of the port `published` of service `web` in the
/// agent's Prometheus exposition.
fn exposed(ingress: &Ingress, family: &str, published: u16) -> String {
    let prefix = format!("{family}{{port=\"{published}\",protocol=\"tcp\",service=\"web\"}} ");
    let text = ingress.metrics_text();
    text.lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .to_owned()
}

#[tokio::test]
async fn bytes_go_both_ways_and_are_counted() {
    let backend = greeter("a").await;
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let published = free_port();
    let status = ingress.apply(table(1, published, &[("ta", backend)]));
    assert_eq!(status.version, 1);
    assert_eq!(status.ports[0].error, None);
    assert_eq!(status.ports[0].backends, ["ta"]);
    assert_eq!(status.ports[0].addr, format!("127.0.0.1:{published}"));

    let mut client = connect(&ingress, published).await;
    assert_eq!(line(&mut client).await, "a\n");
    client.write_all(b"hello\n").await.unwrap();
    assert_eq!(line(&mut client).await, "hello\n");
    // Half-close: the backend sees the end of the request, answers the rest
    // and closes, and the client reads to the end.
    client.get_mut().shutdown().await.unwrap();
    let mut rest = Vec::new();
    timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());

    let port = port_status(&ingress, |p| p.metrics.active == 0).await;
    assert_eq!(port.metrics.connections, 1);
    assert_eq!(port.metrics.active, 0);
    assert_eq!(port.metrics.bytes_in, 6);
    assert_eq!(port.metrics.bytes_out, 8);
    assert_eq!((port.metrics.errors, port.metrics.retries), (0, 0));
}

#[tokio::test]
async fn a_response_that_ends_with_close_reaches_the_client_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    let body = "x".repeat(200_000);
    let response = format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{body}");
    let expected = response.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        let mut header = String::new();
        while header != "\r\n" {
            header.clear();
            stream.read_line(&mut header).await.unwrap();
        }
        stream.get_mut().write_all(response.as_bytes()).await.unwrap();
        // Dropping the stream sends FIN; the client never closes first.
    });
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let published = free_port();
    ingress.apply(table(1, published, &[("t", backend)]));
    let mut client = TcpStream::connect(ingress.listen_addr(published)).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut received = String::new();
    timeout(Duration::from_secs(5), client.read_to_string(&mut received))
        .await
        .expect("the proxy did not pass the backend's close on")
        .unwrap();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn a_refusing_backend_is_skipped_without_the_client_noticing() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let alive = greeter("alive").await;
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let published = free_port();
    // Idle backends are tried in table order from the first connection on.
    ingress.apply(table(1, published, &[("dead", dead), ("alive", alive)]));
    let mut client = connect(&ingress, published).await;
    assert_eq!(line(&mut client).await, "alive\n");
    let port = port_status(&ingress, |p| p.metrics.retries == 1).await;
    assert_eq!(port.metrics.retries, 1);
    assert_eq!(port.metrics.errors, 0);
}

#[tokio::test]
async fn without_backends_the_client_is_closed_and_counted() {
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let published = free_port();
    let status = ingress.apply(table(1, published, &[]));
    assert!(status.ports[0].backends.is_empty());
    let mut client = TcpStream::connect(ingress.listen_addr(published)).await.unwrap();
    let mut buffer = [0; 16];
    let read = timeout(Duration::from_secs(5), client.read(&mut buffer))
        .await
        .expect("the client was left hanging");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let port = port_status(&ingress, |p| p.metrics.errors == 1).await;
    assert_eq!(port.metrics.errors, 1);
    assert_eq!(port.metrics.connections, 1);
}

#[tokio::test]
async fn a_new_table_keeps_open_connections_and_routes_new_ones() {
    let a = greeter("a").await;
    let b = greeter("b").await;
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let published = free_port();
    ingress.apply(table(1, published, &[("ta", a)]));
    let mut old = connect(&ingress, published).await;
    assert_eq!(line(&mut old).await, "a\n");

    let status = ingress.apply(table(2, published, &[("tb", b)]));
    assert_eq!(status.version, 2);
    assert_eq!(status.ports[0].backends, ["tb"]);
    old.write_all(b"still here\n").await.unwrap();
    assert_eq!(line(&mut old).await, "still here\n");
    let mut new = connect(&ingress, published).await;
    assert_eq!(line(&mut new).await, "b\n");
    // The listener was kept: its counters go on.
    assert_eq!(ingress.status().unwrap().ports[0].metrics.connections, 2);
}

#[tokio::test]
async fn a_port_that_leaves_the_table_stops_listening() {
    let backend = greeter("a").await;
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let published = free_port();
    ingress.apply(table(1, published, &[("ta", backend)]));
    let mut open = connect(&ingress, published).await;
    assert_eq!(line(&mut open).await, "a\n");

    let status = ingress.apply(IngressTable {
        version: 2,
        ports: vec![],
        services: Vec::new(),
    });
    assert!(status.ports.is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(ingress.listen_addr(published)).await.is_ok() {
        assert!(Instant::now() < deadline, "still listening");
        sleep(Duration::from_millis(10)).await;
    }
    // What was proxied before runs to its end.
    open.write_all(b"bye\n").await.unwrap();
    assert_eq!(line(&mut open).await, "bye\n");
}

#[tokio::test]
async fn a_taken_port_is_reported_and_taken_over_once_free() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let published = squatter.local_addr().unwrap().port();
    let backend = greeter("a").await;
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let status = ingress.apply(table(1, published, &[("ta", backend)]));
    assert_eq!(
        status.ports[0].error.as_deref(),
        Some(format!("port {published} on 127.0.0.1 is in use by another program").as_str())
    );
    drop(squatter);
    let deadline = Instant::now() + BIND_RETRY * 3;
    while ingress.status().unwrap().ports[0].error.is_some() {
        assert!(Instant::now() < deadline, "never retried");
        sleep(Duration::from_millis(50)).await;
    }
    let mut client = connect(&ingress, published).await;
    assert_eq!(line(&mut client).await, "a\n");
}

#[tokio::test]
async fn agents_sharing_a_host_each_listen_on_their_own_address() {
    let a = greeter("a").await;
    let b = greeter("b").await;
    let published = free_port();
    let node_2 = Ingress::new("127.0.0.2".parse().unwrap(), Limits::default());
    let node_3 = Ingress::new("127.0.0.3".parse().unwrap(), Limits::default());
    assert_eq!(
        node_2.apply(table(1, published, &[("ta", a)])).ports[0].error,
        None
    );
    assert_eq!(
        node_3.apply(table(1, published, &[("tb", b)])).ports[0].error,
        None
    );
    assert_eq!(line(&mut connect(&node_2, published).await).await, "a\n");
    assert_eq!(line(&mut connect(&node_3, published).await).await, "b\n");
}

#[tokio::test]
async fn udp_is_reported_not_ignored() {
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let mut udp = table(1, free_port(), &[]);
    udp.ports[0].protocol = Protocol::Udp;
    let status = ingress.apply(udp);
    assert_eq!(status.ports[0].protocol, Protocol::Udp);
    assert_eq!(status.ports[0].error.as_deref(), Some(UDP_UNSUPPORTED));
}

#[tokio::test]
async fn no_status_before_the_first_table() {
    assert_eq!(Ingress::new(LOCALHOST, Limits::default()).status(), None);
}

#[tokio::test]
async fn prometheus_scrapes_the_counters() {
    let backend = greeter("a").await;
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let published = free_port();
    ingress.apply(table(1, published, &[("ta", backend)]));
    let mut client = connect(&ingress, published).await;
    assert_eq!(line(&mut client).await, "a\n");

    let endpoint = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = endpoint.local_addr().unwrap();
    tokio::spawn(serve_metrics(endpoint, ingress.clone()));
    let mut scrape = TcpStream::connect(addr).await.unwrap();
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    timeout(Duration::from_secs(5), scrape.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response.starts_with("HTTP/1.0 200 OK\r\n"), "{response}");
    assert!(
        response.contains("Content-Type: text/plain; version=0.0.4"),
        "{response}"
    );
    let labels = format!("{{port=\"{published}\",protocol=\"tcp\",service=\"web\"}}");
    for line in [
        format!("shoal_ingress_connections_total{labels} 1"),
        format!("shoal_ingress_active_connections{labels} 1"),
        format!("shoal_ingress_listening{labels} 1"),
    ] {
        assert!(
            response.lines().any(|l| l == line),
            "missing {line} in\n{response}"
        );
    }
}

#[tokio::test]
async fn a_backend_that_does_not_accept_in_time_is_skipped() {
    // A listener whose accept queue is full: the kernel drops further SYNs,
    // so connecting to it hangs like connecting to a node that went away.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(0).unwrap();
    let silent = full.local_addr().unwrap();
    let mut queued = Vec::new();
    while let Ok(Ok(stream)) = timeout(Duration::from_millis(200), TcpStream::connect(silent)).await {
        queued.push(stream);
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    let alive = greeter("alive").await;
    let ingress = Ingress::new(LOCALHOST, Limits::default());
    let published = free_port();
    ingress.apply(table(1, published, &[("silent", silent), ("alive", alive)]));
    let started = Instant::now();
    let mut client = connect(&ingress, published).await;
    assert_eq!(line(&mut client).await, "alive\n");
    assert!(
        started.elapsed() >= CONNECT_TIMEOUT,
        "the silent backend was not tried first"
    );
    assert_eq!(ingress.status().unwrap().ports[0].metrics.retries, 1);
}

#[tokio::test]
async fn a_port_at_its_cap_closes_new_connections_and_keeps_the_old() {
    const CAP: usize = 8;
    let (backend, accepted) = counted_greeter("a").await;
    let ingress = Ingress::new(LOCALHOST, limits(CAP, 1000));
    let published = free_port();
    ingress.apply(table(1, published, &[("ta", backend)]));
    let mut held = Vec::new();
    for _ in 0..CAP {
        let mut client = connect(&ingress, published).await;
        assert_eq!(reception(&mut client).await, Reception::Greeted("a\n".into()));
        held.push(client);
    }
    for _ in 0..4 {
        let mut extra = connect(&ingress, published).await;
        assert_eq!(reception(&mut extra).await, Reception::Closed);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), CAP);
    for client in &mut held {
        client.write_all(b"still here\n").await.unwrap();
        assert_eq!(line(client).await, "still here\n");
    }
    let port = ingress.status().unwrap().ports[0].clone();
    assert_eq!((port.metrics.connections, port.metrics.active), (8, 8));
    assert_eq!(port.metrics.errors, 0);
    assert!(exposed(&ingress, "shoal_ingress_refused_connections_total", published).ends_with(" 4"));

    // Two clients leave: two new ones are proxied, and the next is closed.
    held.truncate(CAP - 2);
    let port = port_status(&ingress, |p| p.metrics.active == 6).await;
    assert_eq!(port.metrics.active, 6);
    for _ in 0..2 {
        let mut client = connect(&ingress, published).await;
        assert_eq!(reception(&mut client).await, Reception::Greeted("a\n".into()));
        held.push(client);
    }
    let mut extra = connect(&ingress, published).await;
    assert_eq!(reception(&mut extra).await, Reception::Closed);
    assert_eq!(accepted.load(Ordering::SeqCst), CAP + 2);
}

#[tokio::test]
async fn the_node_wide_cap_counts_every_port_together() {
    let backend = greeter("a").await;
    let ingress = Ingress::new(LOCALHOST, limits(8, 3));
    let (first, second) = (free_port(), free_port());
    let mut both = table(1, first, &[("ta", backend)]);
    both.ports.extend(table(1, second, &[("ta", backend)]).ports);
    ingress.apply(both);
    let mut on_first = Vec::new();
    for _ in 0..2 {
        let mut client = connect(&ingress, first).await;
        assert_eq!(reception(&mut client).await, Reception::Greeted("a\n".into()));
        on_first.push(client);
    }
    let mut on_second = connect(&ingress, second).await;
    assert_eq!(reception(&mut on_second).await, Reception::Greeted("a\n".into()));

    // Each port is far below its own cap of 8; together they are at 3.
    assert_eq!(
        reception(&mut connect(&ingress, second).await).await,
        Reception::Closed
    );
    assert_eq!(
        reception(&mut connect(&ingress, first).await).await,
        Reception::Closed
    );

    // A connection that ends on one port frees a place for the other.
    on_first.pop();
    status_when(&ingress, |s| {
        s.ports.iter().map(|p| p.metrics.active).sum::<u64>() == 2
    })
    .await;
    let mut again = connect(&ingress, second).await;
    assert_eq!(reception(&mut again).await, Reception::Greeted("a\n".into()));
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    const IDLE: Duration = Duration::from_millis(300);
    let backend = greeter("a").await;
    let ingress = Ingress::new(
        LOCALHOST,
        Limits {
            per_port: 8,
            total: 8,
            idle_timeout: IDLE,
        },
    );
    let published = free_port();
    ingress.apply(table(1, published, &[("ta", backend)]));
    // Before the connection exists: its last byte cannot be earlier.
    let opened = Instant::now();
    let mut idle = connect(&ingress, published).await;
    assert_eq!(line(&mut idle).await, "a\n");
    let mut busy = connect(&ingress, published).await;
    assert_eq!(line(&mut busy).await, "a\n");
    let closed = tokio::spawn(async move {
        let mut rest = [0; 16];
        let read = idle.read(&mut rest).await;
        (read.map_err(|e| e.kind()), opened.elapsed())
    });

    // The busy client sends well within every idle period, for three of them.
    while opened.elapsed() < IDLE * 3 {
        busy.write_all(b"ping\n").await.unwrap();
        assert_eq!(line(&mut busy).await, "ping\n");
        sleep(IDLE / 4).await;
    }
    let (read, after) = timeout(Duration::from_secs(5), closed)
        .await
        .expect("the idle connection was left open")
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(after >= IDLE, "closed after {after:?}, within the idle timeout");
    busy.write_all(b"still here\n").await.unwrap();
    assert_eq!(line(&mut busy).await, "still here\n");
    assert!(exposed(&ingress, "shoal_ingress_idle_timeouts_total", published).ends_with(" 1"));
    let port = port_status(&ingress, |p| p.metrics.active == 1).await;
    assert_eq!(port.metrics.active, 1);
}
