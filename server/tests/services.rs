//! Services on the real Docker engine: an in-process server, real
//! `shoal-agent` processes joined as nodes, and the project's demo images.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use common::{
    TestServer,
    agent::Agent,
    docker::{Cleanup, containers, demo_images, docker},
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoal_proto::{
    auth::Role,
    node::{JoinTokens, Node},
    service::{Service, Task, TaskState},
};
use shoal_server::presence::Heartbeat;

const BEAT: Heartbeat = Heartbeat {
    interval: Duration::from_secs(1),
    misses: 3,
};
/// Containers start in about a second; a busy two-core machine needs more.
const LIMIT: Duration = Duration::from_secs(60);

struct Cluster {
    server: TestServer,
    admin: Client,
    dir: tempfile::TempDir,
    tokens: JoinTokens,
    agents: BTreeMap<String, Agent>,
    nodes: BTreeMap<String, String>,
    cleanup: Cleanup,
}

impl Cluster {
    async fn start() -> Self {
        demo_images();
        let server = TestServer::start_with(|config| {
            config.agents.heartbeat = BEAT;
            config.agents.reschedule_after = Duration::from_secs(1);
        })
        .await;
        server.user("admin", Role::Admin).await;
        let admin = server.login("admin").await;
        let tokens: JoinTokens = admin
            .get(server.url("/api/v1/join-tokens"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            server,
            admin,
            dir: tempfile::tempdir().unwrap(),
            tokens,
            agents: BTreeMap::new(),
            nodes: BTreeMap::new(),
            cleanup: Cleanup::default(),
        }
    }

    async fn join(&mut self, hostname: &str, manager: bool) {
        let token = if manager {
            &self.tokens.manager.token
        } else {
            &self.tokens.worker.token
        };
        let agent = Agent::join(
            self.dir.path(),
            &self.server.agent_addr.to_string(),
            token,
            hostname,
            &["--advertise-addr", "127.0.0.1"],
        );
        self.agents.insert(hostname.to_owned(), agent);
        let deadline = Instant::now() + LIMIT;
        loop {
            let nodes: Vec<Node> = self.get("/api/v1/nodes").await;
            if let Some(node) = nodes
                .iter()
                .find(|n| n.hostname == hostname && n.status == shoal_proto::node::NodeStatus::Ready)
            {
                self.cleanup.node(&node.id);
                self.nodes.insert(hostname.to_owned(), node.id.clone());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{hostname} did not join:\n{}",
                self.agents[hostname].log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.admin.get(self.server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .admin
            .request(method, self.server.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, spec: Value) -> Service {
        let (status, body) = self.send(reqwest::Method::POST, "/api/v1/services", spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        serde_json::from_value(body).unwrap()
    }

    async fn tasks(&self, service: &Service) -> Vec<Task> {
        self.get(&format!("/api/v1/tasks?service={}", service.id)).await
    }

    /// The service's live tasks (wanted running, not ended).
    async fn live(&self, service: &Service) -> Vec<Task> {
        self.tasks(service)
            .await
            .into_iter()
            .filter(|t| {
                t.desired_state == shoal_proto::service::DesiredState::Running && !t.state.is_terminal()
            })
            .collect()
    }

    /// Polls the service's tasks until `done` holds: running tasks per
    /// hostname, and the containers Docker runs for the service.
    async fn until(
        &self,
        service: &Service,
        what: &str,
        done: impl Fn(&BTreeMap<String, usize>, usize) -> bool,
    ) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let live = self.live(service).await;
            let running = self.running_per_host(&live);
            let docker_count = containers(&format!("shoal.service.id={}", service.id), false).len();
            let all_running = live.iter().all(|t| t.state == TaskState::Running);
            if all_running && done(&running, docker_count) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: running per node {running:?}, {docker_count} containers, tasks:\n{live:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn running_per_host(&self, tasks: &[Task]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for task in tasks.iter().filter(|t| t.state == TaskState::Running) {
            let host = self
                .nodes
                .iter()
                .find(|(_, id)| Some(id.as_str()) == task.node_id.as_deref())
                .map_or_else(|| "?".to_owned(), |(host, _)| host.clone());
            *counts.entry(host).or_default() += 1;
        }
        counts
    }

    async fn scale(&self, service: &Service, replicas: u64) {
        let path = format!("/api/v1/services/{}/scale", service.id);
        let (status, body) = self
            .send(reqwest::Method::POST, &path, json!({ "replicas": replicas }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn availability(&self, hostname: &str, availability: &str) {
        let path = format!("/api/v1/nodes/{}", self.nodes[hostname]);
        let (status, body) = self
            .send(
                reqwest::Method::PATCH,
                &path,
                json!({ "availability": availability }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn delete(&self, service: &Service) {
        let path = format!("/api/v1/services/{}", service.id);
        let response = self.admin.delete(self.server.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let deadline = Instant::now() + LIMIT;
        while !containers(&format!("shoal.service.id={}", service.id), true).is_empty() {
            assert!(
                Instant::now() < deadline,
                "the deleted service's containers stayed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

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
    let body = reqwest::get(format!("http://127.0.0.1:{}/", port.host_port))
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
