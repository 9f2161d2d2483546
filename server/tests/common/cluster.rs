//! A cluster for Docker tests: a server (in-process, or a real process a
//! test can kill) and real agents joined as nodes, with helpers to drive
//! services and rollouts through the REST API and to watch their tasks and
//! containers.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoal_proto::{
    auth::Role,
    node::{JoinTokens, Node},
    service::{Rollout, RolloutDetail, RolloutState, Service, Task, TaskState},
};
use shoal_server::presence::Heartbeat;

use super::{
    TestServer,
    agent::Agent,
    docker::{Cleanup, containers, demo_image, demo_images},
    login,
    process::{ServerProcess, create_admin},
    watch,
};

pub const BEAT: Heartbeat = Heartbeat {
    interval: Duration::from_secs(1),
    misses: 3,
};
/// Containers start in about a second; a busy two-core machine needs more.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Where the cluster's server runs.
pub enum Server {
    /// In the test's process: quick to start, its context at hand.
    InProcess(Box<TestServer>),
    /// The `shoal-server` binary, which a test can SIGKILL and start again.
    Process(ServerProcess),
}

impl Server {
    fn base(&self) -> &str {
        match self {
            Self::InProcess(server) => &server.base,
            Self::Process(server) => &server.url,
        }
    }

    fn agent_addr(&self) -> String {
        match self {
            Self::InProcess(server) => server.agent_addr.to_string(),
            Self::Process(server) => server.agent_addr.clone(),
        }
    }
}

pub struct Cluster {
    pub server: Server,
    pub admin: Client,
    pub dir: tempfile::TempDir,
    tokens: JoinTokens,
    pub agents: BTreeMap<String, Agent>,
    pub nodes: BTreeMap<String, String>,
    cleanup: Cleanup,
}

impl Cluster {
    /// An in-process server that moves a down node's tasks after 1 s.
    pub async fn start() -> Self {
        let server = TestServer::start_with(|config| {
            config.agents.heartbeat = BEAT;
            config.agents.reschedule_after = Duration::from_secs(1);
        })
        .await;
        server.user("admin", Role::Admin).await;
        Self::around(Server::InProcess(Box::new(server)), tempfile::tempdir().unwrap()).await
    }

    /// An in-process cluster of three workers running `spec`, every task
    /// healthy.
    pub async fn running(spec: Value) -> (Self, Service) {
        let mut cluster = Self::start().await;
        cluster.join_workers(3).await;
        let service = cluster.create(spec).await;
        let replicas = service.spec.replicas.unwrap_or(1) as usize;
        cluster.until_healthy(&service, replicas).await;
        (cluster, service)
    }

    /// A `shoal-server` process with the same heartbeats and the default
    /// grace before a down node's tasks move, so that a server restart
    /// moves nothing.
    pub async fn start_process() -> Self {
        let dir = tempfile::tempdir().unwrap();
        create_admin(dir.path());
        let server = ServerProcess::start(dir.path(), "127.0.0.1:0", "server");
        Self::around(Server::Process(server), dir).await
    }

    async fn around(server: Server, dir: tempfile::TempDir) -> Self {
        demo_images();
        let admin = login(server.base(), "admin").await;
        let tokens: JoinTokens = admin
            .get(format!("{}/api/v1/join-tokens", server.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            server,
            admin,
            dir,
            tokens,
            agents: BTreeMap::new(),
            nodes: BTreeMap::new(),
            cleanup: Cleanup::default(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base())
    }

    /// SIGKILLs the server process, leaves it down for `down_for`, and starts
    /// it again on the same agent port and data directory; the agents find
    /// their way back by themselves.
    pub async fn restart_server(&mut self, down_for: Duration) {
        let Server::Process(server) = &mut self.server else {
            panic!("only a server process can be killed");
        };
        server.kill();
        tokio::time::sleep(down_for).await;
        *server = ServerProcess::start(self.dir.path(), &server.agent_addr, "server");
        self.admin = server.admin().await;
    }

    /// What the server process logged, for failure messages.
    pub fn server_log(&self) -> String {
        match &self.server {
            Server::InProcess(_) => String::new(),
            Server::Process(server) => server.log(),
        }
    }

    pub async fn join(&mut self, hostname: &str, manager: bool) {
        let token = if manager {
            &self.tokens.manager.token
        } else {
            &self.tokens.worker.token
        };
        // Each node its own loopback address, as separate hosts would have:
        // their containers' ports and the mesh's listeners cannot collide.
        let address = format!("127.0.0.{}", self.agents.len() + 2);
        let agent = Agent::join(
            self.dir.path(),
            &self.server.agent_addr(),
            token,
            hostname,
            &["--advertise-addr", &address],
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

    /// `worker-1` to `worker-{count}`, joined as workers.
    pub async fn join_workers(&mut self, count: usize) {
        for n in 1..=count {
            self.join(&format!("worker-{n}"), false).await;
        }
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.admin.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .admin
            .request(method, self.url(path))
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
        let response = self.admin.delete(self.url(&path)).send().await.unwrap();
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

    /// Replaces the service's spec, asserting the change was taken.
    pub async fn put(&self, service: &Service, spec: Value) -> Service {
        let path = format!("/api/v1/services/{}", service.id);
        let (status, body) = self.send(reqwest::Method::PUT, &path, spec).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// The service's rollouts, newest first.
    pub async fn rollouts(&self, service: &Service) -> Vec<Rollout> {
        self.get(&format!("/api/v1/services/{}/rollouts", service.id))
            .await
    }

    pub async fn rollout(&self, id: &str) -> RolloutDetail {
        self.get(&format!("/api/v1/rollouts/{id}")).await
    }

    /// `pause`, `resume` or `abort`, asserting it was done.
    pub async fn steer(&self, rollout: &Rollout, action: &str) -> Rollout {
        let path = format!("/api/v1/rollouts/{}/{action}", rollout.id);
        let (status, body) = self.send(reqwest::Method::POST, &path, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
        serde_json::from_value(body).unwrap()
    }

    /// Polls the service's newest rollout until `done` holds.
    pub async fn rollout_until(
        &self,
        service: &Service,
        what: &str,
        done: impl Fn(&Rollout) -> bool,
    ) -> Rollout {
        // A rollout takes several monitor windows on top of the containers'
        // own start.
        let deadline = Instant::now() + LIMIT * 2;
        loop {
            let newest = self.rollouts(service).await.into_iter().next();
            match newest {
                Some(rollout) if done(&rollout) => return rollout,
                Some(rollout) if Instant::now() >= deadline => panic!(
                    "timed out waiting for {what}: {:#?}\ntasks: {:#?}\n{}",
                    self.rollout(&rollout.id).await,
                    self.tasks(service).await,
                    self.server_log()
                ),
                None if Instant::now() >= deadline => panic!("timed out waiting for {what}: no rollout"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Polls the newest rollout until it ends as `done` says, and asserts it
    /// completed.
    pub async fn rollout_completes(
        &self,
        service: &Service,
        what: &str,
        done: impl Fn(&Rollout) -> bool,
    ) -> Rollout {
        let rollout = self
            .rollout_until(service, what, |r| !r.state.is_active() && done(r))
            .await;
        assert_eq!(
            rollout.state,
            RolloutState::Completed,
            "{what}: {:#?}",
            self.rollout(&rollout.id).await
        );
        rollout
    }

    /// Waits for `replicas` live tasks, each running and healthy, and as many
    /// healthy containers on the engine.
    pub async fn until_healthy(&self, service: &Service, replicas: usize) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let live = self.live(service).await;
            let ready = live.len() == replicas
                && live
                    .iter()
                    .all(|t| t.state == TaskState::Running && t.healthy == Some(true));
            let docker = watch::sample(&service.id).unwrap_or_default();
            if ready && docker.healthy == replicas && docker.running_total() == replicas {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {replicas} healthy tasks: docker {docker:?}, tasks:\n{live:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What each live task of a demo image answers on `GET /` through the
    /// host port of its port 8080: the version word (`v1`, `v2`), by slot.
    pub async fn versions(&self, service: &Service) -> BTreeMap<u64, String> {
        let mut versions = BTreeMap::new();
        for task in self.live(service).await {
            let slot = task.slot.expect("a replicated task has a slot");
            let port = task
                .ports
                .iter()
                .find(|p| p.target == 8080)
                .unwrap_or_else(|| panic!("no host port for 8080: {task:#?}"));
            let answer = match reqwest::get(format!("http://{}:{}/", port.host_ip, port.host_port)).await {
                Ok(response) => response.text().await.unwrap_or_else(|e| e.to_string()),
                Err(error) => error.to_string(),
            };
            // "shoal-demo v2 on 3f2a…"
            let version = answer.split_whitespace().nth(1).unwrap_or(&answer).to_owned();
            let before = versions.insert(slot, version);
            assert!(before.is_none(), "two live tasks in slot {slot}");
        }
        versions
    }
}

/// A service named `web` of `replicas` demo `{version}` tasks that
/// roll out as `update` says and roll back two at a time, quickly restarted
/// and stopped.
pub fn web(replicas: u64, version: &str, update: Value) -> Value {
    json!({
        "name": "web",
        "image": demo_image(version),
        "replicas": replicas,
        "ports": [{ "target": 8080 }],
        "restart_policy": { "delay": "500ms" },
        "stop_grace_period": "2s",
        "update_config": update,
        "rollback_config": { "parallelism": 2, "monitor": "2s" },
    })
}

pub fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}
