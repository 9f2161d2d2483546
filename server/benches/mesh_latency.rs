//! What the routing mesh adds to a request, on real Docker: one shoal-demo
//! task, reached directly on its container's host port, through the mesh on
//! the node that runs it, and through the mesh on a node that does not (two
//! hops: that node's agent forwards to the task's node address).
//!
//! `cargo bench -p shoal-server --bench mesh_latency` needs the local Docker
//! engine and the demo images (built when missing). Per path: sequential
//! requests on one keep-alive connection and with a new connection each
//! (latency p50/p99/mean), then requests per second from 8 concurrent
//! keep-alive connections.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use common::cluster::Cluster;
use serde_json::json;
use shoal_proto::ingress::ServiceIngress;

const SEQUENTIAL: usize = 5_000;
const NEW_CONNECTIONS: usize = 1_000;
const CONCURRENT: usize = 8;
const PER_CONNECTION: usize = 2_000;

struct Latency {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

async fn sequential(url: &str, count: usize, keep_alive: bool) -> Latency {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::from(keep_alive))
        .build()
        .unwrap();
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let at = Instant::now();
        let response = client.get(url).send().await.unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
        samples.push(at.elapsed());
    }
    samples.sort();
    Latency {
        p50: samples[count / 2],
        p99: samples[count * 99 / 100],
        mean: samples.iter().sum::<Duration>() / u32::try_from(count).unwrap(),
    }
}

async fn throughput(url: &str) -> f64 {
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                for _ in 0..PER_CONNECTION {
                    client.get(&url).send().await.unwrap().bytes().await.unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    (CONCURRENT * PER_CONNECTION) as f64 / started.elapsed().as_secs_f64()
}

fn micros(d: Duration) -> String {
    format!("{:>8.1}", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let published = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (cluster, service) = Cluster::running(json!({
        "name": "web",
        "image": "shoal-demo:v1",
        "replicas": 1,
        "ports": [{ "target": 8080, "published": published }],
    }))
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let view: ServiceIngress = cluster
            .get(&format!("/api/v1/services/{}/ingress", service.id))
            .await;
        if view.ports[0].nodes.len() == 3 && view.ports[0].nodes.iter().all(|n| n.backends.len() == 1) {
            break view;
        }
        assert!(Instant::now() < deadline, "the mesh did not settle: {view:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let port = &view.ports[0];
    let backend = &port.backends[0];
    let own = port.nodes.iter().find(|n| n.node_id == backend.node_id).unwrap();
    let other = port.nodes.iter().find(|n| n.node_id != backend.node_id).unwrap();
    let paths = [
        ("direct to the container", format!("http://{}/", backend.addr)),
        ("mesh, on the task's node", format!("http://{}/", own.addr)),
        ("mesh, on another node", format!("http://{}/", other.addr)),
    ];

    println!(
        "\nrouting mesh latency on this machine ({} cores), one shoal-demo task",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<26} {:>26} {:>26} {:>10}",
        "path", "keep-alive p50/p99/mean µs", "new conn p50/p99/mean µs", "req/s"
    );
    for (name, url) in &paths {
        let kept = sequential(url, SEQUENTIAL, true).await;
        let fresh = sequential(url, NEW_CONNECTIONS, false).await;
        let rate = throughput(url).await;
        println!(
            "{name:<26} {}{}{} {}{}{} {rate:>10.0}",
            micros(kept.p50),
            micros(kept.p99),
            micros(kept.mean),
            micros(fresh.p50),
            micros(fresh.p99),
            micros(fresh.mean),
        );
    }
    println!(
        "({SEQUENTIAL} keep-alive and {NEW_CONNECTIONS} new-connection requests in sequence; \
         {CONCURRENT} connections × {PER_CONNECTION} for req/s)"
    );
}
