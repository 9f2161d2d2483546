//! The mesh with real loopback sockets: clients, the proxy and backends all
//! in one process.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
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

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A port nothing listens on (for a moment: the kernel hands out ports in
/// turn, so it is not handed out again soon).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A backend that says its name on every connection, then echoes until the
/// client stops sending, and closes.
async fn greeter(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                stream.write_all(format!("{name}\n").as_bytes()).await.unwrap();
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

fn table(version: u64, published: u16, backends: &[(&str, SocketAddr)]) -> IngressTable {
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
    }
}

async fn connect(ingress: &Ingress, published: u16) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(ingress.listen_addr(published)).await.unwrap())
}

async fn line(stream: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    timeout(Duration::from_secs(5), stream.read_line(&mut line))
        .await
        .expect("no answer through the proxy")
        .unwrap();
    line
}

/// The port's status once `done` holds, or the last one seen.
async fn port_status(ingress: &Ingress, done: impl Fn(&ListenerStatus) -> bool) -> ListenerStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status: IngressStatus = ingress.status().unwrap();
        let port = status.ports[0].clone();
        if done(&port) || Instant::now() > deadline {
            return port;
        }
        sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn bytes_go_both_ways_and_are_counted() {
    let backend = greeter("a").await;
    let ingress = Ingress::new(LOCALHOST);
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
    let ingress = Ingress::new(LOCALHOST);
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
    let ingress = Ingress::new(LOCALHOST);
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
    let ingress = Ingress::new(LOCALHOST);
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
    let ingress = Ingress::new(LOCALHOST);
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
    let ingress = Ingress::new(LOCALHOST);
    let published = free_port();
    ingress.apply(table(1, published, &[("ta", backend)]));
    let mut open = connect(&ingress, published).await;
    assert_eq!(line(&mut open).await, "a\n");

    let status = ingress.apply(IngressTable {
        version: 2,
        ports: vec![],
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
    let ingress = Ingress::new(LOCALHOST);
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
    let node_2 = Ingress::new("127.0.0.2".parse().unwrap());
    let node_3 = Ingress::new("127.0.0.3".parse().unwrap());
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
    let ingress = Ingress::new(LOCALHOST);
    let mut udp = table(1, free_port(), &[]);
    udp.ports[0].protocol = Protocol::Udp;
    let status = ingress.apply(udp);
    assert_eq!(status.ports[0].protocol, Protocol::Udp);
    assert_eq!(status.ports[0].error.as_deref(), Some(UDP_UNSUPPORTED));
}

#[tokio::test]
async fn no_status_before_the_first_table() {
    assert_eq!(Ingress::new(LOCALHOST).status(), None);
}

#[tokio::test]
async fn prometheus_scrapes_the_counters() {
    let backend = greeter("a").await;
    let ingress = Ingress::new(LOCALHOST);
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
    let ingress = Ingress::new(LOCALHOST);
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
