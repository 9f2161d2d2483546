//! Node membership with real processes only: the `shoal-server` binary,
//! `shoal-agent` processes with their own data directories, and the local
//! Docker engine for their inventory. Heartbeats are 1 s, 3 may be missed.

mod common;

use std::{
    collections::BTreeMap,
    process::Command,
    time::{Duration, Instant},
};

use common::{
    agent::Agent,
    process::{ServerProcess, create_admin},
};
use reqwest::Client;
use shoal_proto::node::{JoinTokens, Node, NodeRole, NodeStatus};

const INTERVAL: Duration = Duration::from_secs(1);
const MISSES: u32 = 3;
/// Room for a busy two-core machine on top of the heartbeat tolerance.
const MARGIN: Duration = Duration::from_secs(2);
const START: Duration = Duration::from_secs(60);

fn docker_version(field: &str) -> String {
    let output = Command::new("docker")
        .args(["version", "--format", &format!("{{{{.Server.{field}}}}}")])
        .output()
        .expect("the docker CLI runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Polls the node list until `done` accepts it.
async fn wait_until(
    server: &ServerProcess,
    client: &Client,
    what: &str,
    limit: Duration,
    done: impl Fn(&BTreeMap<String, Node>) -> bool,
) -> BTreeMap<String, Node> {
    let deadline = Instant::now() + limit;
    loop {
        let nodes: BTreeMap<String, Node> = server
            .nodes(client)
            .await
            .into_iter()
            .map(|node| (node.hostname.clone(), node))
            .collect();
        if done(&nodes) {
            return nodes;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; nodes: {nodes:#?}\nserver log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn all_ready(nodes: &BTreeMap<String, Node>, count: usize) -> bool {
    nodes.len() == count && nodes.values().all(|node| node.status == NodeStatus::Ready)
}

#[tokio::test]
async fn nodes_join_stay_in_touch_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path());
    let mut server = ServerProcess::start(dir.path(), "127.0.0.1:0", "server");
    let admin = server.admin().await;
    let response = admin
        .get(format!("{}/api/v1/join-tokens", server.url))
        .send()
        .await
        .unwrap();
    let tokens: JoinTokens = response.json().await.unwrap();
    assert_eq!(tokens.server_address, server.agent_addr);

    let mut agents: BTreeMap<&str, Agent> = BTreeMap::new();
    for (hostname, token) in [
        ("worker-1", &tokens.worker.token),
        ("worker-2", &tokens.worker.token),
        ("worker-3", &tokens.worker.token),
        ("manager-1", &tokens.manager.token),
    ] {
        let agent = Agent::join(dir.path(), &server.agent_addr, token, hostname, &[]);
        agents.insert(hostname, agent);
    }
    let nodes = wait_until(&server, &admin, "four ready nodes", START, |nodes| {
        all_ready(nodes, 4)
    })
    .await;

    let engine_version = docker_version("Version");
    for (hostname, node) in &nodes {
        let role = if hostname.starts_with("manager") {
            NodeRole::Manager
        } else {
            NodeRole::Worker
        };
        assert_eq!(node.role, role, "{hostname}");
        assert_eq!(node.engine_version, engine_version, "{hostname}");
        assert_eq!(node.agent_version, env!("CARGO_PKG_VERSION"), "{hostname}");
        assert_eq!(node.platform.os, docker_version("Os"), "{hostname}");
        assert_eq!(node.platform.arch, docker_version("Arch"), "{hostname}");
        assert!(
            node.resources.cpus > 0 && node.resources.memory_bytes > 0,
            "{node:?}"
        );
        assert_eq!(node.address, "127.0.0.1", "the address the server saw");
        assert!(node.last_heartbeat_at.is_some());
    }

    // A crash: the node is down within the heartbeats it may miss.
    let victim = agents.get_mut("worker-2").unwrap();
    victim.kill();
    let killed = Instant::now();
    let limit = INTERVAL * MISSES + MARGIN;
    wait_until(&server, &admin, "worker-2 to be down", limit, |nodes| {
        nodes["worker-2"].status == NodeStatus::Down
    })
    .await;
    let took = killed.elapsed();
    assert!(took <= limit, "down after {took:?}");
    println!("worker-2 was down {took:?} after it was killed (limit {limit:?})");
    let others = server.nodes(&admin).await;
    assert_eq!(others.iter().filter(|n| n.status == NodeStatus::Ready).count(), 3);

    // Back with its stored identity: the same node, no new join.
    let data_dir = victim.data_dir.clone();
    agents.insert("worker-2", Agent::run(dir.path(), &data_dir, "worker-2"));
    let back = wait_until(&server, &admin, "worker-2 to be ready again", START, |nodes| {
        all_ready(nodes, 4)
    })
    .await;
    assert_eq!(back["worker-2"].id, nodes["worker-2"].id);

    // The server restarts (crashes, even): it keeps its nodes, and the agents
    // find their way back to it.
    let agent_addr = server.agent_addr.clone();
    drop(server);
    server = ServerProcess::start(dir.path(), &agent_addr, "server-again");
    let admin = server.admin().await;
    let after = wait_until(
        &server,
        &admin,
        "every node back after the restart",
        START,
        |nodes| all_ready(nodes, 4),
    )
    .await;
    for (hostname, node) in &nodes {
        assert_eq!(after[hostname].id, node.id, "{hostname} kept its id");
    }
    for (hostname, agent) in &agents {
        assert!(
            !agent.log().contains("shoal-agent: error"),
            "{hostname} failed:\n{}",
            agent.log()
        );
    }
}

#[test]
fn help_explains_the_agent_gateway_flags() {
    let output = Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "--agent-listen",
        "SHOAL_AGENT_LISTEN",
        "0.0.0.0:8302",
        "--agent-advertise-addr",
        "SHOAL_AGENT_ADVERTISE_ADDR",
        "--heartbeat-interval",
        "SHOAL_HEARTBEAT_INTERVAL",
        "--heartbeat-misses",
        "SHOAL_HEARTBEAT_MISSES",
    ] {
        assert!(help.contains(needle), "--help does not mention {needle}:\n{help}");
    }
}

#[test]
fn a_taken_agent_port_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .args(["--listen", "127.0.0.1:0", "--agent-listen", &addr])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen for agents on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("--agent-listen"), "{stderr}");
}
