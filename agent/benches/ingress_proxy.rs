//! What the routing mesh costs a request: latency and throughput of a small
//! HTTP/1.1 backend on loopback, asked directly and through
//! `shoal_agent::ingress` in front of it. Prints a table; not a timed test.
//!
//! `cargo bench -p shoal-agent --bench ingress_proxy`

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use shoal_agent::ingress::{Ingress, Limits};
use shoal_proto::{
    service::Protocol,
    wire::{Backend, IngressPort, IngressTable},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

const SEQUENTIAL: usize = 20_000;
const FRESH_CONNECTIONS: usize = 2_000;
const CONCURRENT_CONNECTIONS: usize = 8;
const CONCURRENT_REQUESTS: usize = 5_000;
const BULK_BYTES: u64 = 1 << 30;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let direct = backend().await;
    let ingress = Ingress::new(IpAddr::V4(Ipv4Addr::LOCALHOST), Limits::default());
    let published = free_port();
    let status = ingress.apply(IngressTable {
        version: 1,
        ports: vec![IngressPort {
            published,
            protocol: Protocol::Tcp,
            service_id: "bench".into(),
            service_name: "bench".into(),
            backends: vec![Backend {
                task_id: "t1".into(),
                node_id: "n1".into(),
                addr: direct.to_string(),
            }],
        }],
        services: Vec::new(),
    });
    assert_eq!(status.ports[0].error, None, "the proxy cannot listen");
    let proxied = ingress.listen_addr(published);

    // Warm both paths up: connection setup, allocator, caches.
    sequential(direct, 1_000).await;
    sequential(proxied, 1_000).await;

    println!();
    println!(
        "ingress proxy benchmark (loopback, tokio HTTP/1.1 backend, {} cores)",
        cores()
    );
    println!();
    println!(
        "{:<44} {:>12} {:>12} {:>10}",
        "", "direct", "via proxy", "overhead"
    );

    let d = sequential(direct, SEQUENTIAL).await;
    let p = sequential(proxied, SEQUENTIAL).await;
    let label = format!("{SEQUENTIAL} sequential, one keep-alive conn");
    latency_rows(&label, &d, &p);

    let d = fresh(direct, FRESH_CONNECTIONS).await;
    let p = fresh(proxied, FRESH_CONNECTIONS).await;
    let label = format!("{FRESH_CONNECTIONS} sequential, new conn each");
    latency_rows(&label, &d, &p);

    let d = concurrent(direct).await;
    let p = concurrent(proxied).await;
    let label = format!("req/s, {CONCURRENT_CONNECTIONS} conns x {CONCURRENT_REQUESTS} keep-alive");
    row(&label, d, p, "", |v| format!("{v:.0}"), false);

    let d = bulk(direct).await;
    let p = bulk(proxied).await;
    let label = format!("MB/s, one {} MiB response", BULK_BYTES >> 20);
    row(&label, d, p, "", |v| format!("{v:.0}"), false);

    let metrics = ingress.status().expect("a table was applied").ports[0].metrics;
    println!();
    println!(
        "proxy counters: {} connections, {} active, {} MB in, {} MB out, {} errors, {} retries",
        metrics.connections,
        metrics.active,
        metrics.bytes_in / 1_000_000,
        metrics.bytes_out / 1_000_000,
        metrics.errors,
        metrics.retries
    );
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn latency_rows(label: &str, direct: &[Duration], proxied: &[Duration]) {
    println!("{label}");
    for (name, q) in [("  p50 latency (µs)", 0.50), ("  p99 latency (µs)", 0.99)] {
        let (d, p) = (quantile(direct, q), quantile(proxied, q));
        row(name, d, p, "µs", |v| format!("{v:.1}"), true);
    }
    let mean = |samples: &[Duration]| {
        samples.iter().map(|d| d.as_secs_f64() * 1e6).sum::<f64>() / samples.len() as f64
    };
    row(
        "  mean latency (µs)",
        mean(direct),
        mean(proxied),
        "µs",
        |v| format!("{v:.1}"),
        true,
    );
}

/// `lower_is_better` picks how the overhead reads: added latency in the
/// unit, or the share of throughput lost.
fn row(label: &str, direct: f64, proxied: f64, unit: &str, show: fn(f64) -> String, lower_is_better: bool) {
    let overhead = if lower_is_better {
        format!("+{:.1} {unit}", proxied - direct)
    } else {
        format!("{:+.0} %", (proxied / direct - 1.0) * 100.0)
    };
    println!(
        "{label:<44} {:>12} {:>12} {overhead:>10}",
        show(direct),
        show(proxied)
    );
}

fn quantile(samples: &[Duration], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

/// A tiny keep-alive HTTP/1.1 server: `/` answers "ok", `/bulk` answers
/// `BULK_BYTES` bytes; `Connection: close` closes after the answer.
async fn backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("backend port");
    let addr = listener.local_addr().expect("backend address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(stream));
        }
    });
    addr
}

async fn serve(stream: TcpStream) {
    let mut stream = BufReader::new(stream);
    let chunk = vec![b'x'; 256 * 1024];
    loop {
        let mut path = String::new();
        let mut close = false;
        let mut line = String::new();
        loop {
            line.clear();
            match stream.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if path.is_empty() {
                path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            } else if line.eq_ignore_ascii_case("connection: close\r\n") {
                close = true;
            }
        }
        let writer = stream.get_mut();
        let sent = if path == "/bulk" {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {BULK_BYTES}\r\n\r\n");
            let mut result = writer.write_all(head.as_bytes()).await;
            let mut left = BULK_BYTES;
            while left > 0 && result.is_ok() {
                let n = left.min(chunk.len() as u64) as usize;
                result = writer.write_all(&chunk[..n]).await;
                left -= n as u64;
            }
            result
        } else {
            writer
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
        };
        if sent.is_err() || close {
            return;
        }
    }
}

struct Client {
    stream: BufReader<TcpStream>,
    line: String,
    sink: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(stream),
            line: String::new(),
            sink: vec![0; 256 * 1024],
        }
    }

    /// One request and its whole answer; returns the body's length.
    async fn request(&mut self, path: &str, close: bool) -> u64 {
        let connection = if close { "Connection: close\r\n" } else { "" };
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{connection}\r\n");
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut length = 0;
        loop {
            self.line.clear();
            let n = self.stream.read_line(&mut self.line).await.expect("read answer");
            assert!(n > 0, "the connection closed mid-answer");
            if self.line == "\r\n" {
                break;
            }
            if let Some(value) = self.line.strip_prefix("Content-Length: ") {
                length = value.trim().parse().expect("content length");
            }
        }
        let mut left = length;
        while left > 0 {
            let want = left.min(self.sink.len() as u64) as usize;
            let n = self.stream.read(&mut self.sink[..want]).await.expect("read body");
            assert!(n > 0, "the body was cut short");
            left -= n as u64;
        }
        length
    }
}

async fn timed<F: Future>(f: F) -> (Duration, F::Output) {
    let start = Instant::now();
    let output = f.await;
    (start.elapsed(), output)
}

async fn sequential(addr: SocketAddr, requests: usize) -> Vec<Duration> {
    let mut client = Client::connect(addr).await;
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        samples.push(timed(client.request("/", false)).await.0);
    }
    samples
}

/// Connect, ask, read the answer: what a client without keep-alive waits.
async fn fresh(addr: SocketAddr, requests: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let (elapsed, ()) = timed(async {
            let mut client = Client::connect(addr).await;
            client.request("/", true).await;
        })
        .await;
        samples.push(elapsed);
    }
    samples
}

async fn concurrent(addr: SocketAddr) -> f64 {
    let (elapsed, ()) = timed(async {
        let clients: Vec<_> = (0..CONCURRENT_CONNECTIONS)
            .map(|_| {
                tokio::spawn(async move {
                    let mut client = Client::connect(addr).await;
                    for _ in 0..CONCURRENT_REQUESTS {
                        client.request("/", false).await;
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.expect("client task");
        }
    })
    .await;
    (CONCURRENT_CONNECTIONS * CONCURRENT_REQUESTS) as f64 / elapsed.as_secs_f64()
}

async fn bulk(addr: SocketAddr) -> f64 {
    let mut client = Client::connect(addr).await;
    let (elapsed, bytes) = timed(client.request("/bulk", false)).await;
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}
