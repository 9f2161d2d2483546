//! A cluster for Docker tests: an in-process server and real agents joined
//! as nodes, with helpers to drive services through the REST API and to
//! watch their tasks and containers.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoal_proto::{
    auth::Role,
    node::{JoinTokens, Node},
    service::{Service, Task, TaskState},
};
use shoal_server::presence::Heartbeat;

use super::{
    TestServer,
    agent::Agent,
    docker::{Cleanup, containers, demo_images},
};

pub const BEAT: Heartbeat = Heartbeat {
    interval: Duration::from_secs(1),
    misses: 3,
};
/// Containers start in about a second; a busy two-core machine needs more.
pub const LIMIT: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub server: TestServer,
    pub admin: Client,
    pub dir: tempfile::TempDir,
    tokens: JoinTokens,
    pub agents: BTreeMap<String, Agent>,
    pub nodes: BTreeMap<String, String>,
    cleanup: Cleanup,
}

impl Cluster {
    pub async fn start() -> Self {
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

    pub async fn join(&mut self, hostname: &str, manager: bool) {
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

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.admin.get(self.server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
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

    pub async fn create(&self, spec: Value) -> Service {
        let (status, body) = self.send(reqwest::Method::POST, "/api/v1/services", spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        serde_json::from_value(body).unwrap()
    }

    pub async fn tasks(&self, service: &Service) -> Vec<Task> {
        self.get(&format!("/api/v1/tasks?service={}", service.id)).await
    }

    /// The service's live tasks (wanted running, not ended).
    pub async fn live(&self, service: &Service) -> Vec<Task> {
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
    pub async fn until(
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

    pub fn running_per_host(&self, tasks: &[Task]) -> BTreeMap<String, usize> {
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

    pub async fn scale(&self, service: &Service, replicas: u64) {
        let path = format!("/api/v1/services/{}/scale", service.id);
        let (status, body) = self
            .send(reqwest::Method::POST, &path, json!({ "replicas": replicas }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn availability(&self, hostname: &str, availability: &str) {
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

    pub async fn delete(&self, service: &Service) {
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

pub fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}
