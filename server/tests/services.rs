//! Services on the real Docker engine: an in-process server, real
//! `shoal-agent` processes joined as nodes, and the project's demo images.

mod common;

use std::time::{Duration, Instant};

use common::{
    agent::Agent,
    cluster::{BEAT, Cluster, LIMIT, counts},
    docker::{containers, docker},
};
use serde_json::{Value, json};
use shoal_proto::service::{Service, TaskState};

fn web(replicas: u64) -> Value {
    json!({
        "name": "web",
        "image": "shoal-demo:v1",
        "replicas": replicas,
        "ports": [{ "target": 8080 }],
        "constraints": ["node.role!=manager"],
        "restart_policy": { "delay": "500ms" },
        "stop_grace_period": "2s",
    })
}

#[tokio::test]
async fn a_replicated_service_spreads_scales_moves_and_heals_on_docker() {
    let mut cluster = Cluster::start().await;
    for host in ["worker-1", "worker-2", "worker-3"] {
        cluster.join(host, false).await;
    }
    cluster.join("manager-1", true).await;

    let service = cluster.create(web(6)).await;
    cluster
        .until(&service, "6 tasks, 2 on each worker", |running, docker| {
            *running == counts(&[("worker-1", 2), ("worker-2", 2), ("worker-3", 2)]) && docker == 6
        })
        .await;
    // Each container is reachable on the host port its task reports.
    let task = cluster.live(&service).await.remove(0);
    let port = task
        .ports
        .iter()
        .find(|p| p.target == 8080)
        .expect("a port binding");
    let body = reqwest::get(format!("http://{}:{}/", port.host_ip, port.host_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("v1"), "{body}");

    cluster.scale(&service, 9).await;
    cluster
        .until(&service, "9 tasks, 3 on each worker", |running, docker| {
            *running == counts(&[("worker-1", 3), ("worker-2", 3), ("worker-3", 3)]) && docker == 9
        })
        .await;

    cluster.availability("worker-1", "drain").await;
    cluster
        .until(
            &service,
            "worker-1's tasks moved to the others",
            |running, docker| {
                !running.contains_key("worker-1") && running.values().sum::<usize>() == 9 && docker == 9
            },
        )
        .await;
    assert!(containers(&format!("shoal.node.id={}", cluster.nodes["worker-1"]), true).is_empty());
    cluster.availability("worker-1", "active").await;

    cluster.scale(&service, 2).await;
    cluster
        .until(&service, "2 tasks", |running, docker| {
            running.values().sum::<usize>() == 2 && docker == 2
        })
        .await;
    let slots: Vec<u64> = cluster
        .live(&service)
        .await
        .iter()
        .filter_map(|t| t.slot)
        .collect();
    assert_eq!(sorted(slots), [1, 2], "scaling down removes the highest slots");

    // A container killed by hand is replaced in its slot.
    let victim = cluster.live(&service).await.remove(0);
    docker(&["kill", victim.container_id.as_deref().unwrap()]).unwrap();
    cluster
        .until(&service, "the killed task replaced", |running, docker| {
            running.values().sum::<usize>() == 2 && docker == 2
        })
        .await;
    let tasks = cluster.tasks(&service).await;
    let failed = tasks.iter().find(|t| t.id == victim.id).unwrap();
    assert_eq!(failed.state, TaskState::Failed, "{failed:?}");
    let replacement = cluster.live(&service).await;
    assert!(
        replacement
            .iter()
            .any(|t| t.slot == victim.slot && t.id != victim.id)
    );

    // An agent killed and restarted adopts its containers: no duplicates.
    let host = cluster
        .running_per_host(&cluster.live(&service).await)
        .into_keys()
        .next()
        .unwrap();
    let node_label = format!("shoal.node.id={}", cluster.nodes[&host]);
    let before = sorted(containers(&node_label, true));
    let agent = cluster.agents.get_mut(&host).unwrap();
    agent.kill();
    let data_dir = agent.data_dir.clone();
    let restarted = Agent::run(cluster.dir.path(), &data_dir, &host);
    cluster.agents.insert(host.clone(), restarted);
    tokio::time::sleep(BEAT.interval * 3).await;
    cluster
        .until(
            &service,
            "the restarted agent's tasks running",
            |running, docker| running.values().sum::<usize>() == 2 && docker == 2,
        )
        .await;
    assert_eq!(
        sorted(containers(&node_label, true)),
        before,
        "the same containers, none added"
    );

    // An agent that stays down loses its tasks to the other nodes after the
    // grace; when it comes back, it stops the containers it no longer owns.
    let agent = cluster.agents.get_mut(&host).unwrap();
    agent.kill();
    cluster
        .until(&service, "the down node's tasks moved", |running, _| {
            !running.contains_key(&host) && running.values().sum::<usize>() == 2
        })
        .await;
    let restarted = Agent::run(cluster.dir.path(), &data_dir, &format!("{host}-again"));
    cluster.agents.insert(host.clone(), restarted);
    let deadline = Instant::now() + LIMIT;
    while !containers(&node_label, true).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the returning node kept its stale containers"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    cluster.delete(&service).await;
}

#[tokio::test]
async fn a_global_service_runs_on_every_eligible_node_and_impossible_ones_wait() {
    let mut cluster = Cluster::start().await;
    cluster.join("worker-1", false).await;
    cluster.join("worker-2", false).await;
    cluster.join("manager-1", true).await;

    let global = cluster
        .create(json!({
            "name": "monitor",
            "image": "shoal-demo:v1",
            "mode": "global",
            "constraints": ["node.role==worker"],
            "stop_grace_period": "2s",
        }))
        .await;
    cluster
        .until(&global, "one task per worker", |running, docker| {
            *running == counts(&[("worker-1", 1), ("worker-2", 1)]) && docker == 2
        })
        .await;
    cluster.join("worker-3", false).await;
    cluster
        .until(&global, "the new worker's task", |running, docker| {
            *running == counts(&[("worker-1", 1), ("worker-2", 1), ("worker-3", 1)]) && docker == 3
        })
        .await;

    let stuck = cluster
        .create(json!({
            "name": "stuck",
            "image": "shoal-demo:v1",
            "replicas": 2,
            "constraints": ["node.labels.zone==mars"],
        }))
        .await;
    let deadline = Instant::now() + LIMIT;
    let pending = loop {
        let live = cluster.live(&stuck).await;
        if live.len() == 2 && live.iter().all(|t| t.state == TaskState::Pending) {
            break live;
        }
        assert!(Instant::now() < deadline, "{live:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        pending[0].message,
        "no suitable node: constraint node.labels.zone==mars: 0 of 4 ready nodes match"
    );
    let view: Service = cluster.get("/api/v1/services/stuck").await;
    assert_eq!(
        (view.tasks.desired, view.tasks.pending, view.tasks.running),
        (2, 2, 0)
    );

    cluster.delete(&stuck).await;
    cluster.delete(&global).await;
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}
