//! Nodes joining a real server with real `shoal-agent` processes: tokens,
//! trust, liveness, management and removal, and the event stream.

mod common;

use std::{future::Future, path::Path, time::Duration};

use common::{TestServer, agent::Agent, error_of};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoal_proto::{
    auth::Role,
    join_token::{JoinToken as TokenText, ca_digest},
    node::{JoinToken, JoinTokens, Node, NodeRole, NodeStatus},
};
use shoal_server::presence::Heartbeat;

/// Short, so that liveness tests take seconds.
const BEAT: Heartbeat = Heartbeat {
    interval: Duration::from_millis(300),
    misses: 3,
};
/// Agents are debug builds sharing a busy machine; give them time to start.
const START: Duration = Duration::from_secs(30);

/// A server with short heartbeats, and an admin's client.
async fn server() -> (TestServer, Client) {
    let server = TestServer::start_with(|config| config.agents.heartbeat = BEAT).await;
    server.user("admin", Role::Admin).await;
    let admin = server.login("admin").await;
    (server, admin)
}

async fn join_tokens(server: &TestServer, client: &Client) -> JoinTokens {
    let response = client
        .get(server.url("/api/v1/join-tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn nodes(server: &TestServer, client: &Client) -> Vec<Node> {
    let response = client.get(server.url("/api/v1/nodes")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Polls until `check` gives a value, or fails naming `what`.
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn node_in_status(
    server: &TestServer,
    client: &Client,
    hostname: &str,
    status: NodeStatus,
    limit: Duration,
) -> Node {
    eventually(&format!("{hostname} to be {status}"), limit, || async {
        nodes(server, client)
            .await
            .into_iter()
            .find(|node| node.hostname == hostname && node.status == status)
    })
    .await
}

fn addr(server: &TestServer) -> String {
    server.agent_addr.to_string()
}

async fn assert_exits_refused(agent: &mut Agent, expected: &str) {
    let status = agent
        .exit_within(START)
        .await
        .unwrap_or_else(|| panic!("the agent kept running; its log:\n{}", agent.log()));
    assert!(
        !status.success(),
        "the agent succeeded; its log:\n{}",
        agent.log()
    );
    let log = agent.log();
    let error = log
        .lines()
        .find(|line| line.starts_with("shoal-agent: error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{log}"));
    assert!(error.contains(expected), "{error}");
}

async fn audit_actions(server: &TestServer, client: &Client) -> Vec<Value> {
    let response = client.get(server.url("/api/v1/audit")).send().await.unwrap();
    let page: Value = response.json().await.unwrap();
    page["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let (server, admin) = server().await;
    let real: TokenText = join_tokens(&server, &admin).await.worker.token.parse().unwrap();
    let wrong = TokenText {
        ca_digest: real.ca_digest,
        secret: "0".repeat(64),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::join(dir.path(), &addr(&server), &wrong.to_string(), "intruder", &[]);
    assert_exits_refused(&mut agent, "the join token was refused").await;
    assert!(nodes(&server, &admin).await.is_empty());
    assert!(
        !agent.data_dir.join("node.json").exists(),
        "no identity is stored"
    );
}

#[tokio::test]
async fn a_rotated_token_admits_no_new_node_and_leaves_joined_ones_connected() {
    let (server, admin) = server().await;
    let before = join_tokens(&server, &admin).await;
    let dir = tempfile::tempdir().unwrap();
    let _early = Agent::join(dir.path(), &addr(&server), &before.worker.token, "early", &[]);
    let early = node_in_status(&server, &admin, "early", NodeStatus::Ready, START).await;
    assert_eq!(early.role, NodeRole::Worker);

    let response = admin
        .post(server.url("/api/v1/join-tokens/worker/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: JoinToken = response.json().await.unwrap();
    assert_ne!(rotated.token, before.worker.token);
    let after = join_tokens(&server, &admin).await;
    assert_eq!(after.worker, rotated);
    assert_eq!(after.manager, before.manager, "the other token is untouched");

    let mut late = Agent::join(dir.path(), &addr(&server), &before.worker.token, "late", &[]);
    assert_exits_refused(&mut late, "the join token was refused").await;

    // The early node never needed the token again: still connected, still
    // sending heartbeats, well past the time it would take to be down.
    tokio::time::sleep(BEAT.tolerance() * 3).await;
    let still = node_in_status(&server, &admin, "early", NodeStatus::Ready, Duration::ZERO).await;
    assert!(still.last_heartbeat_at > early.last_heartbeat_at);

    let _fresh = Agent::join(dir.path(), &addr(&server), &rotated.token, "fresh", &[]);
    node_in_status(&server, &admin, "fresh", NodeStatus::Ready, START).await;
    assert_eq!(nodes(&server, &admin).await.len(), 2);

    let response = admin
        .post(server.url("/api/v1/join-tokens/boss/rotate"))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message.contains("\"worker\" or \"manager\""), "{message}");
    let audit = audit_actions(&server, &admin).await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "join_token.rotate" && e["target"] == "worker")
    );
}

#[tokio::test]
async fn an_agent_refuses_a_server_with_another_ca() {
    let (genuine, admin) = server().await;
    let impostor = TestServer::start().await;
    let token = join_tokens(&genuine, &admin).await.worker.token;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::join(dir.path(), &addr(&impostor), &token, "careful", &[]);
    assert_exits_refused(&mut agent, "possible man-in-the-middle").await;
    assert!(
        shoal_server::ops::nodes::list(&impostor.ctx)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(nodes(&genuine, &admin).await.is_empty());
}

#[tokio::test]
async fn a_removed_node_is_cut_off_and_cannot_reconnect() {
    let (server, admin) = server().await;
    let token = join_tokens(&server, &admin).await.worker.token;
    let dir = tempfile::tempdir().unwrap();
    let mut doomed = Agent::join(dir.path(), &addr(&server), &token, "doomed", &[]);
    let node = node_in_status(&server, &admin, "doomed", NodeStatus::Ready, START).await;
    let url = server.url(&format!("/api/v1/nodes/{}", node.id));

    let (status, code, message) = error_of(admin.delete(&url).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    assert!(message.contains("force=true"), "{message}");

    let response = admin.delete(format!("{url}?force=true")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_exits_refused(&mut doomed, "was removed from the cluster").await;
    assert_eq!(
        admin.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert!(nodes(&server, &admin).await.is_empty());

    let mut again = Agent::run(dir.path(), &doomed.data_dir, "doomed");
    assert_exits_refused(&mut again, "was removed from the cluster").await;
    assert!(nodes(&server, &admin).await.is_empty());

    // A node that is down goes without force.
    let mut quiet = Agent::join(dir.path(), &addr(&server), &token, "quiet", &[]);
    let node = node_in_status(&server, &admin, "quiet", NodeStatus::Ready, START).await;
    quiet.kill();
    node_in_status(&server, &admin, "quiet", NodeStatus::Down, START).await;
    let response = admin
        .delete(server.url(&format!("/api/v1/nodes/{}", node.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let audit = audit_actions(&server, &admin).await;
    let removals: Vec<_> = audit.iter().filter(|e| e["action"] == "node.remove").collect();
    assert_eq!(removals.len(), 2);
    assert!(
        removals
            .iter()
            .any(|e| e["detail"]["force"] == true && e["detail"]["hostname"] == "doomed")
    );
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "node.join" && e["actor_kind"] == "node")
    );
}

#[tokio::test]
async fn only_admins_see_join_tokens() {
    let (server, admin) = server().await;
    for (name, role) in [("viewer", Role::Viewer), ("operator", Role::Operator)] {
        server.user(name, role).await;
        let client = server.login(name).await;
        let response = client
            .get(server.url("/api/v1/join-tokens"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("SHOAL-1-"), "{body}");
    }
    let tokens = join_tokens(&server, &admin).await;
    let ca_pem = std::fs::read_to_string(server.data.path().join("data/ca.crt")).unwrap();
    let digest = ca_digest(&pem_body(&ca_pem));
    for (token, role) in [
        (&tokens.worker, NodeRole::Worker),
        (&tokens.manager, NodeRole::Manager),
    ] {
        assert_eq!(token.role, role);
        let parsed: TokenText = token.token.parse().unwrap();
        assert_eq!(parsed.ca_digest, digest);
        assert_eq!(
            token.command,
            format!("shoal-agent join --token {} {}", token.token, addr(&server))
        );
    }
    assert_ne!(tokens.worker.token, tokens.manager.token);
    assert_eq!(tokens.server_address, addr(&server));
}

/// The DER inside a PEM certificate.
fn pem_body(pem: &str) -> Vec<u8> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

#[tokio::test]
async fn operators_drain_and_label_nodes_and_admins_change_roles() {
    let (server, admin) = server().await;
    server.user("operator", Role::Operator).await;
    let operator = server.login("operator").await;
    let token = join_tokens(&server, &admin).await.manager.token;
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "--label",
        "zone=a",
        "--label",
        "old=x",
        "--advertise-addr",
        "10.1.2.3",
    ];
    let _agent = Agent::join(dir.path(), &addr(&server), &token, "labelled", &extra);
    let node = node_in_status(&server, &admin, "labelled", NodeStatus::Ready, START).await;
    assert_eq!(node.role, NodeRole::Manager);
    // What the node said about itself is kept apart from operator labels.
    assert_eq!(node.engine_labels.get("zone").map(String::as_str), Some("a"));
    assert!(node.labels.is_empty(), "{:?}", node.labels);
    assert_eq!(node.address, "10.1.2.3");
    let url = server.url(&format!("/api/v1/nodes/{}", node.id));

    let response = operator
        .patch(&url)
        .json(&json!({ "availability": "drain", "labels": { "add": { "disk": "ssd", "zone": "b" }, "remove": ["old"] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Node = response.json().await.unwrap();
    assert_eq!(changed.availability.as_str(), "drain");
    assert_eq!(
        changed.labels.into_iter().collect::<Vec<_>>(),
        [("disk".into(), "ssd".into()), ("zone".into(), "b".into())]
    );
    assert_eq!(changed.engine_labels, node.engine_labels);
    assert_eq!(changed.status, NodeStatus::Ready);

    // The address the mesh uses is an admin's to change, and only to an IP.
    let move_to = |address: &str| json!({ "address": address });
    let response = operator
        .patch(&url)
        .json(&move_to("10.9.9.9"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _, message) =
        error_of(admin.patch(&url).json(&move_to("node.lan")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.starts_with("address: "), "{message}");
    let response = admin
        .patch(&url)
        .json(&move_to("[fd00::9]"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Node>().await.unwrap().address, "fd00::9");

    let (status, _, message) = error_of(
        operator
            .patch(&url)
            .json(&json!({ "labels": { "add": { "bad key": "x" } } }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("label key"), "{message}");

    let role_url = format!("{url}/role");
    let response = operator
        .post(&role_url)
        .json(&json!({ "role": "worker" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = admin
        .post(&role_url)
        .json(&json!({ "role": "worker" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Node>().await.unwrap().role, NodeRole::Worker);

    let audit = audit_actions(&server, &admin).await;
    let update = |field: &str| {
        audit
            .iter()
            .find(|e| e["action"] == "node.update" && !e["detail"][field].is_null())
            .unwrap_or_else(|| panic!("no node.update of {field} in {audit:?}"))
    };
    assert_eq!(update("availability")["actor_name"], "operator");
    assert_eq!(
        update("availability")["detail"]["availability"],
        json!({ "from": "active", "to": "drain" })
    );
    assert_eq!(update("address")["actor_name"], "admin");
    assert_eq!(
        update("address")["detail"]["address"],
        json!({ "from": "10.1.2.3", "to": "fd00::9" })
    );
    let role = audit.iter().find(|e| e["action"] == "node.role").unwrap();
    assert_eq!(
        role["detail"],
        json!({ "hostname": "labelled", "from": "manager", "to": "worker" })
    );
}

/// Reads `GET /api/v1/events` as a browser's EventSource would.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(server: &TestServer, client: &Client) -> Self {
        let response = client.get(server.url("/api/v1/events")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's JSON, skipping keep-alive comments.
    async fn next(&mut self, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> = block
                    .lines()
                    .filter_map(|line| line.strip_prefix("data: "))
                    .collect();
                if !data.is_empty() {
                    return serde_json::from_str(&data.join("\n")).unwrap();
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event in time")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Skips events until one of `kind` about `hostname` arrives.
    async fn until(&mut self, kind: &str, hostname: &str, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await;
            if event["type"] == kind && event["node"]["hostname"] == hostname {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn the_event_stream_follows_a_node_from_join_to_down_and_back() {
    let (server, admin) = server().await;
    server.user("viewer", Role::Viewer).await;
    let viewer = server.login("viewer").await;
    let mut events = Events::open(&server, &viewer).await;
    let token = join_tokens(&server, &admin).await.worker.token;
    let dir = tempfile::tempdir().unwrap();

    let mut agent = Agent::join(dir.path(), &addr(&server), &token, "blinker", &[]);
    let joined = events.until("node.joined", "blinker", START).await;
    let id = joined["node"]["id"].as_str().unwrap().to_owned();
    let ready = events.until("node.status", "blinker", START).await;
    assert_eq!(ready["node"]["status"], "ready");

    agent.kill();
    let killed_at = tokio::time::Instant::now();
    let down = events.until("node.status", "blinker", START).await;
    assert_eq!(down["node"]["status"], "down");
    let took = killed_at.elapsed();
    assert!(
        took <= BEAT.tolerance() + Duration::from_secs(2),
        "down after {took:?}"
    );

    let _back = Agent::run(dir.path(), &agent.data_dir, "blinker");
    let back = events.until("node.status", "blinker", START).await;
    assert_eq!(back["node"]["status"], "ready");
    assert_eq!(back["node"]["id"], id.as_str(), "the same node, not a new join");
    assert_eq!(nodes(&server, &admin).await.len(), 1);

    let response = admin
        .patch(server.url(&format!("/api/v1/nodes/{id}")))
        .json(&json!({ "availability": "pause" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let updated = events.until("node.updated", "blinker", START).await;
    assert_eq!(updated["node"]["availability"], "pause");
}

#[tokio::test]
async fn a_data_dir_that_already_joined_is_not_joined_twice() {
    let (server, admin) = server().await;
    let token = join_tokens(&server, &admin).await.worker.token;
    let dir = tempfile::tempdir().unwrap();
    let mut first = Agent::join(dir.path(), &addr(&server), &token, "twice", &[]);
    node_in_status(&server, &admin, "twice", NodeStatus::Ready, START).await;
    first.kill();
    let mut second = Agent::join(dir.path(), &addr(&server), &token, "twice", &[]);
    assert_exits_refused(&mut second, "already holds the identity of node").await;
    assert_eq!(nodes(&server, &admin).await.len(), 1);
    let key_mode = file_mode(&first.data_dir.join("node.key"));
    assert_eq!(key_mode & 0o777, 0o600);
}

fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode()
}

#[tokio::test]
async fn a_node_that_labels_itself_gets_no_task_of_a_service_constrained_to_an_operator_label() {
    let (server, admin) = server().await;
    server.user("operator", Role::Operator).await;
    let operator = server.login("operator").await;
    let token = join_tokens(&server, &admin).await.worker.token;
    let dir = tempfile::tempdir().unwrap();
    let _agent = Agent::join(
        dir.path(),
        &addr(&server),
        &token,
        "sneaky",
        &["--label", "tier=secure"],
    );
    let node = node_in_status(&server, &admin, "sneaky", NodeStatus::Ready, START).await;
    // Never pulled, never found: only where the task is placed matters here.
    let spec = json!({
        "name": "vault", "image": "shoal-test-absent:1", "pull_policy": "never", "replicas": 1,
        "constraints": ["node.labels.tier==secure"],
    });
    let response = operator
        .post(server.url("/api/v1/services"))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        response.text().await.unwrap()
    );
    let tasks = || async {
        let response = admin
            .get(server.url("/api/v1/tasks?service=vault"))
            .send()
            .await
            .unwrap();
        response.json::<Vec<Value>>().await.unwrap()
    };
    let pending = eventually("the task to wait for a node", START, || async {
        tasks()
            .await
            .into_iter()
            .find(|t| t["state"] == "pending" && t["node_id"].is_null())
    })
    .await;
    assert!(
        pending["message"]
            .as_str()
            .unwrap()
            .contains("node.labels.tier==secure"),
        "{pending}"
    );
    assert!(tasks().await.iter().all(|t| t["node_id"] != node.id.as_str()));

    // The operator's label is what places it.
    let response = operator
        .patch(server.url(&format!("/api/v1/nodes/{}", node.id)))
        .json(&json!({ "labels": { "add": { "tier": "secure" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    eventually("the task to be placed on the labelled node", START, || async {
        tasks()
            .await
            .into_iter()
            .find(|t| t["node_id"] == node.id.as_str())
    })
    .await;
}

#[tokio::test]
async fn a_node_cannot_join_under_the_hostname_of_another() {
    let (server, admin) = server().await;
    let token = join_tokens(&server, &admin).await.worker.token;
    let first_dir = tempfile::tempdir().unwrap();
    let _first = Agent::join(first_dir.path(), &addr(&server), &token, "db-1", &[]);
    let first = node_in_status(&server, &admin, "db-1", NodeStatus::Ready, START).await;
    let second_dir = tempfile::tempdir().unwrap();
    let mut second = Agent::join(second_dir.path(), &addr(&server), &token, "DB-1", &[]);
    assert_exits_refused(
        &mut second,
        &format!("a node named db-1 already exists (id {})", first.id),
    )
    .await;
    assert_eq!(nodes(&server, &admin).await.len(), 1);
}

#[tokio::test]
async fn a_node_that_reports_another_name_or_address_keeps_the_ones_it_joined_with() {
    let (server, admin) = server().await;
    let token = join_tokens(&server, &admin).await.worker.token;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::join(
        dir.path(),
        &addr(&server),
        &token,
        "honest",
        &["--advertise-addr", "127.0.0.5"],
    );
    let joined = node_in_status(&server, &admin, "honest", NodeStatus::Ready, START).await;
    agent.kill();
    node_in_status(&server, &admin, "honest", NodeStatus::Down, START).await;
    // The node's own record of itself, rewritten as a compromised host would.
    let meta_path = agent.data_dir.join("node.json");
    let mut meta: Value = serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["hostname"] = json!("db-1");
    meta["advertise_addr"] = json!("169.254.169.254");
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let data_dir = agent.data_dir.clone();
    let _again = Agent::run(dir.path(), &data_dir, "honest");
    let back = node_in_status(&server, &admin, "honest", NodeStatus::Ready, START).await;
    assert_eq!(back.id, joined.id);
    assert_eq!(back.address, "127.0.0.5");
}

/// Descriptors this process has open: the in-process server's and the
/// test's own.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The flood below needs a few thousand descriptors; many systems start
/// processes with a soft limit of 1024 and a far higher hard one.
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a struct owned here.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit), 0);
    }
}

#[tokio::test]
async fn a_flood_of_idle_connections_to_the_agent_port_holds_few_descriptors_and_a_node_still_joins() {
    const FLOOD: usize = 2000;
    raise_descriptor_limit();
    let (server, admin) = server().await;
    let token = join_tokens(&server, &admin).await.worker.token;
    let before = (open_descriptors(), resident_bytes());
    // From another loopback address than the node's, as from another host.
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        flood.push(socket.connect(server.agent_addr).await.unwrap());
    }
    // Wait until the server has accepted (and kept or closed) them all: the
    // count stops moving.
    let mut last = open_descriptors();
    let settled = eventually("the server to take the flood", START, || {
        let now = open_descriptors();
        let stable = now == last;
        last = now;
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stable.then_some(now)
        }
    })
    .await;
    let held_by_server = settled.saturating_sub(before.0 + FLOOD);
    assert!(
        held_by_server <= 64 + 16,
        "the server holds {held_by_server} descriptors for {FLOOD} idle connections"
    );

    let dir = tempfile::tempdir().unwrap();
    let _agent = Agent::join(dir.path(), &addr(&server), &token, "amid-flood", &[]);
    node_in_status(&server, &admin, "amid-flood", NodeStatus::Ready, START).await;
    let grown = resident_bytes().saturating_sub(before.1);
    assert!(grown < 64 << 20, "memory grew by {grown} bytes");
    drop(flood);
}
