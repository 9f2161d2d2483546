//! The routing mesh on real Docker: three agents, each on its own loopback
//! address, publishing a service's port on every node; connections reach a
//! task wherever it runs, a killed task leaves the backends at once, and
//! rolling updates under continuous load fail no request.

mod common;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use common::{
    cluster::Cluster,
    docker::{demo_image, docker},
    load::{Load, Shape, demo_banner},
};
use serde_json::{Value, json};
use shoal_proto::{ingress::ServiceIngress, service::Service};

/// One test at a time: they judge timing and failures on one engine.
static ENGINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The demo images' health check runs every 2 s.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn web(replicas: u64, version: &str, published: u16, update: Value) -> Value {
    json!({
        "name": "web",
        "image": demo_image(version),
        "replicas": replicas,
        "ports": [{ "target": 8080, "published": published }],
        "restart_policy": { "delay": "500ms" },
        "stop_grace_period": "3s",
        "update_config": update,
    })
}

/// Every node's address on the published port.
fn mesh_urls(cluster: &Cluster, published: u16) -> Vec<String> {
    (0..cluster.agents.len())
        .map(|n| format!("http://127.0.0.{}:{published}/", n + 2))
        .collect()
}

async fn ingress(cluster: &Cluster, service: &Service) -> ServiceIngress {
    cluster
        .get(&format!("/api/v1/services/{}/ingress", service.id))
        .await
}

/// Waits until every node listens on the port and forwards to exactly
/// `backends` tasks; returns the view.
async fn until_every_node_forwards(cluster: &Cluster, service: &Service, backends: usize) -> ServiceIngress {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = ingress(cluster, service).await;
        let port = &view.ports[0];
        let settled = port.backends.len() == backends
            && port.nodes.len() == cluster.agents.len()
            && port.nodes.iter().all(|n| {
                n.error.is_none() && n.backends.len() == backends && n.table_version == view.table_version
            });
        if settled {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "the mesh did not settle on {backends} backends: {view:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn any_node_forwards_to_a_task_elsewhere_and_a_killed_task_leaves_the_backends() {
    let _engine = ENGINE.lock().await;
    let published = free_port();
    let (cluster, service) = Cluster::running(web(1, "v1", published, json!({}))).await;
    let view = until_every_node_forwards(&cluster, &service, 1).await;

    // A node that runs no task of the service still answers on its port.
    let task_node = &view.ports[0].backends[0].node_id;
    let elsewhere = view.ports[0]
        .nodes
        .iter()
        .find(|n| &n.node_id != task_node)
        .expect("a node without the task");
    let url = format!("http://{}/", elsewhere.addr);
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(body.starts_with("shoal-demo v1"), "{url}: {body}");
    let counted = ingress(&cluster, &service).await;
    assert!(
        counted.ports[0]
            .nodes
            .iter()
            .any(|n| n.node_id == elsewhere.node_id),
        "{counted:#?}"
    );

    // Two tasks; kill one container abruptly.
    cluster.scale(&service, 2).await;
    cluster.until_healthy(&service, 2).await;
    let view = until_every_node_forwards(&cluster, &service, 2).await;
    let victim = view.ports[0].backends[0].task_id.clone();
    let container = cluster
        .live(&service)
        .await
        .into_iter()
        .find(|t| t.id == victim)
        .and_then(|t| t.container_id)
        .expect("the task's container");
    let killed = Instant::now();
    docker(&["kill", &container]).unwrap();
    loop {
        let view = ingress(&cluster, &service).await;
        let gone = view.ports[0].backends.iter().all(|b| b.task_id != victim)
            && view.ports[0].nodes.iter().all(|n| !n.backends.contains(&victim));
        if gone {
            break;
        }
        assert!(
            killed.elapsed() < HEALTH_INTERVAL,
            "the killed task was still a backend after {:?}: {view:#?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let withdrawn_after = killed.elapsed();
    eprintln!("a killed task left every node's backends after {withdrawn_after:?}");

    // Every node, many times: all answered by the surviving task (or its
    // replacement once that is ready).
    for url in mesh_urls(&cluster, published).iter().cycle().take(150) {
        let response = reqwest::get(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(response.status().is_success(), "{url}: {}", response.status());
    }
}

#[tokio::test]
async fn rolling_updates_under_load_fail_no_request() {
    let _engine = ENGINE.lock().await;
    let published = free_port();
    let first = json!({ "parallelism": 1, "order": "stop-first", "monitor": "2s" });
    let (cluster, service) = Cluster::running(web(4, "v1", published, first.clone())).await;
    until_every_node_forwards(&cluster, &service, 4).await;

    let load = Load::start(
        mesh_urls(&cluster, published),
        Shape {
            keep_alive_workers: 3,
            new_connection_workers: 3,
            pause: Duration::from_millis(2),
            max_requests: 200_000,
            max_time: Duration::from_secs(600),
            judge: demo_banner,
        },
        "before (4 × v1, steady)",
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let steps = [
        ("v2", 1, "stop-first"),
        ("v1", 1, "start-first"),
        ("v2", 2, "stop-first"),
        ("v1", 2, "start-first"),
    ];
    for (revision, (version, parallelism, order)) in (2..).zip(steps) {
        load.phase(&format!("during → {version}, parallelism {parallelism}, {order}"));
        let update = json!({ "parallelism": parallelism, "order": order, "monitor": "2s" });
        cluster.put(&service, web(4, version, published, update)).await;
        cluster
            .rollout_completes(&service, "the rollout", |r| r.to_revision == revision)
            .await;
        load.phase(&format!("after → {version}"));
        until_every_node_forwards(&cluster, &service, 4).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The figures need a count, not just the rollouts' length.
    let topping_up = Instant::now();
    while load.sent() < 20_000 && topping_up.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = load.stop().await;
    eprintln!("routing mesh under rolling updates:\n{report}");
    for (phase, figures) in &report.phases {
        assert_eq!(
            figures.failures, 0,
            "{phase}: {figures}; e.g. {:#?}",
            figures.examples
        );
    }
    assert!(
        report.total.requests >= 20_000,
        "only {} requests; the load test needs at least 20,000",
        report.total.requests
    );
    assert_eq!(
        cluster
            .versions(&service)
            .await
            .values()
            .filter(|v| *v == "v1")
            .count(),
        4
    );
}
