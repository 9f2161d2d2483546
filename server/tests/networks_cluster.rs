//! Service networks on real Docker (issue 15's acceptance): three agents,
//! services on shared and separate networks, and calls made from inside the
//! containers by name, through each agent's resolver and virtual addresses.
//! The demo resolves names itself (the static binary has no system
//! resolver), so `shoal-demo check URL` and its `/call?url=` endpoint are
//! what a task does.
//!
//! `tasks.NAME` is tested on one agent (agent/tests/service_networks.rs):
//! the demo's resolver reads only the first address of an answer.
//!
//! The load test drives calls from `web`'s task to `api` through `/call`
//! (each on a new connection from the task) and `/call?count=N` (N calls
//! over one kept-alive connection) while `api` rolls, and counts every call
//! that fails; run it with `--nocapture` to see the latencies.

mod common;

use std::{
    collections::BTreeSet,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use common::{
    cluster::{Cluster, LIMIT, Server},
    docker::{demo_image, docker},
    load::{Load, Report, Shape},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shoal_proto::{
    service::{Service, Task},
    wire::IngressTable,
};

/// One test at a time: they judge timing on one engine.
static ENGINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The demo images' health check runs every 2 s.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
/// The node that runs `web` and no task of `api`, so every call crosses to
/// another node.
const NODE_A: &str = "worker-1";

/// A demo service of `replicas` tasks on `networks`, reached on 8080 (which
/// also maps 8080 to a host port, for the test to reach `web`'s `/call`).
fn demo(name: &str, replicas: u64, networks: &[&str], constraints: &[String]) -> Value {
    json!({
        "name": name,
        "image": demo_image("v1"),
        "replicas": replicas,
        "networks": networks,
        "ports": [{ "target": 8080 }],
        "constraints": constraints,
        "max_replicas_per_node": 1,
        "restart_policy": { "delay": "500ms" },
        "stop_grace_period": "2s",
    })
}

/// Three workers, the networks `backend` and `other`, and on them `api` (two
/// tasks, off node A), `web` (on node A) and `other`, every task healthy.
async fn three_services() -> (Cluster, Service, Service, Service) {
    let cluster = three_workers_with(&["backend", "other"]).await;
    let api = cluster
        .create(demo(
            "api",
            2,
            &["backend"],
            &[format!("node.hostname!={NODE_A}")],
        ))
        .await;
    let web = create_web(&cluster).await;
    let other = cluster.create(demo("other", 1, &["other"], &[])).await;
    for service in [&api, &web, &other] {
        let replicas = service.spec.replicas.unwrap_or(1) as usize;
        cluster.until_healthy(service, replicas).await;
    }
    (cluster, api, web, other)
}

/// Three workers and the plain networks `names`.
async fn three_workers_with(names: &[&str]) -> Cluster {
    with_networks(Cluster::start().await, names).await
}

/// `cluster` with three workers joined and the plain networks `names`.
async fn with_networks(mut cluster: Cluster, names: &[&str]) -> Cluster {
    cluster.join_workers(3).await;
    for network in names {
        let (status, body) = cluster
            .send(
                reqwest::Method::POST,
                "/api/v1/networks",
                json!({ "name": network, "encrypted": false, "proxy_protocol": false }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    cluster
}

/// `web` on node A, on `backend`.
async fn create_web(cluster: &Cluster) -> Service {
    cluster
        .create(demo(
            "web",
            1,
            &["backend"],
            &[format!("node.hostname=={NODE_A}")],
        ))
        .await
}

/// The container of the service's only live task.
async fn only_container(cluster: &Cluster, service: &Service) -> String {
    let live = cluster.live(service).await;
    assert_eq!(live.len(), 1, "{live:#?}");
    live[0]
        .container_id
        .clone()
        .expect("a running task has a container")
}

/// What Docker names each live task's container as its hostname: the
/// container id's first 12 characters, which the demo answers `GET /` with.
async fn hostnames(cluster: &Cluster, service: &Service) -> BTreeSet<String> {
    cluster
        .live(service)
        .await
        .iter()
        .map(|task| task.container_id.as_deref().expect("a container")[..12].to_owned())
        .collect()
}

/// `/shoal-demo check URL` inside `container`: its status line, or why it
/// failed.
fn check_from(container: &str, url: &str) -> Result<String, String> {
    docker(&["exec", container, "/shoal-demo", "check", url])
}

/// The task's `/call` endpoint, reached at the host port its 8080 is mapped
/// to.
fn call_endpoint(task: &Task) -> String {
    let port = task
        .ports
        .iter()
        .find(|p| p.target == 8080)
        .unwrap_or_else(|| panic!("no host port for 8080: {task:#?}"));
    format!("http://{}:{}/call", port.host_ip, port.host_port)
}

/// Calls `url` from inside `web`'s task through its `/call` endpoint: the
/// endpoint's status and JSON.
async fn call_from(task: &Task, url: &str) -> (u16, Value) {
    let endpoint = format!("{}?url={url}", call_endpoint(task));
    let response = reqwest::get(&endpoint)
        .await
        .unwrap_or_else(|e| panic!("{endpoint}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Calls `api` by name from `web` until both api tasks have answered; fails
/// on any call that does not reach api at its virtual address.
async fn until_both_answer(cluster: &Cluster, web: &Service, api: &Service, address: Ipv4Addr) {
    let web_task = cluster.live(web).await.remove(0);
    let expected = hostnames(cluster, api).await;
    assert_eq!(expected.len(), 2, "{expected:?}");
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + LIMIT;
    while seen != expected {
        let (status, answer) = call_from(&web_task, "http://api:8080/").await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], 200, "{answer}");
        assert_eq!(answer["address"], format!("{address}:8080"), "{answer}");
        // "shoal-demo v1 on 3f2a…\n"
        let body = answer["body"].as_str().unwrap_or_default();
        let host = body.trim_end().rsplit(' ').next().unwrap_or_default();
        assert!(
            expected.contains(host),
            "answered by {host:?}, not an api task: {answer}"
        );
        seen.insert(host.to_owned());
        assert!(
            Instant::now() < deadline,
            "only {seen:?} of the api tasks {expected:?} answered"
        );
    }
}

/// Polls `check URL` from inside `container` until it succeeds: the agent
/// has opened the container's resolver and rule, and its table has the
/// service.
async fn until_check_passes(container: &str, url: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        match check_from(container, url) {
            Ok(_) => return,
            Err(why) => assert!(Instant::now() < deadline, "{url} from {container}: {why}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn table(cluster: &Cluster) -> std::sync::Arc<IngressTable> {
    match &cluster.server {
        Server::InProcess(server) => server.ctx.ingress.current(),
        Server::Process(_) => panic!("the table is read in process"),
    }
}

#[tokio::test]
async fn a_task_calls_a_service_on_its_network_by_name_and_a_task_elsewhere_cannot() {
    let _engine = ENGINE.lock().await;
    let (cluster, api, web, other) = three_services().await;
    let address = api.address.expect("a service gets a virtual address");

    // From web's container, as any program in it would: by name.
    let web_container = only_container(&cluster, &web).await;
    until_check_passes(&web_container, "http://api:8080/health").await;
    // Across nodes (web is alone on node A), balanced over both tasks.
    until_both_answer(&cluster, &web, &api, address).await;

    // `other` shares no network with api. Its own name resolving first shows
    // its container is served, so what fails next fails by isolation.
    let other_container = only_container(&cluster, &other).await;
    until_check_passes(&other_container, "http://other:8080/health").await;
    let by_name = check_from(&other_container, "http://api:8080/health");
    assert_eq!(
        by_name,
        Err("shoal-demo check: api: no such name (NXDOMAIN)".to_owned())
    );
    let by_address = check_from(&other_container, &format!("http://{address}:8080/health"));
    let why = by_address.expect_err("api's virtual address is not open to other");
    assert!(why.contains(&format!("{address}:8080")), "{why}");
}

#[tokio::test]
async fn a_killed_api_task_leaves_the_backends_within_one_health_interval_and_calls_still_succeed() {
    let _engine = ENGINE.lock().await;
    let (cluster, api, web, _other) = three_services().await;
    let address = api.address.expect("a service gets a virtual address");
    let web_container = only_container(&cluster, &web).await;
    until_check_passes(&web_container, "http://api:8080/health").await;

    let victim = cluster.live(&api).await.remove(0);
    let container = victim.container_id.clone().expect("a container");
    let killed = Instant::now();
    docker(&["kill", &container]).unwrap();
    // Out of the server's table, and every node has applied a table without
    // it.
    loop {
        let table = table(&cluster);
        let withdrawn = table
            .services
            .iter()
            .filter(|s| s.service_id == api.id)
            .flat_map(|s| &s.ports)
            .all(|p| p.backends.iter().all(|b| b.task_id != victim.id));
        let applied = match &cluster.server {
            Server::InProcess(server) => {
                let reports = server.ctx.ingress.reports();
                reports.len() == cluster.agents.len()
                    && reports.values().all(|r| r.status.version >= table.version)
            }
            Server::Process(_) => unreachable!("the cluster runs in process"),
        };
        if withdrawn && applied {
            break;
        }
        assert!(
            killed.elapsed() < HEALTH_INTERVAL,
            "the killed task was still a backend after {:?}: {table:#?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "a killed api task left every node's backends after {:?}",
        killed.elapsed()
    );

    // Every call after that is answered, by the surviving task (or by the
    // replacement once it is ready).
    let web_task = cluster.live(&web).await.remove(0);
    for _ in 0..30 {
        let (status, answer) = call_from(&web_task, "http://api:8080/").await;
        assert_eq!((status, &answer["status"]), (200, &json!(200)), "{answer}");
        assert_eq!(answer["address"], format!("{address}:8080"), "{answer}");
    }
}

#[tokio::test]
async fn calls_by_name_keep_working_while_the_server_is_down() {
    let _engine = ENGINE.lock().await;
    let mut cluster = with_networks(Cluster::start_process().await, &["backend"]).await;
    let api = cluster
        .create(demo(
            "api",
            2,
            &["backend"],
            &[format!("node.hostname!={NODE_A}")],
        ))
        .await;
    let web = create_web(&cluster).await;
    cluster.until_healthy(&api, 2).await;
    cluster.until_healthy(&web, 1).await;
    let web_container = only_container(&cluster, &web).await;
    until_check_passes(&web_container, "http://api:8080/health").await;
    let address = api.address.expect("a service gets a virtual address");

    // Names are resolved anew on every call, so each one asks web's agent,
    // which has only its last table while the server is away.
    let web_task = cluster.live(&web).await.remove(0);
    let calls = tokio::spawn(async move {
        // Let the kill below land first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let until = Instant::now() + Duration::from_secs(5);
        let mut answered = 0_u32;
        while Instant::now() < until {
            let (status, answer) = call_from(&web_task, "http://api:8080/").await;
            assert_eq!((status, &answer["status"]), (200, &json!(200)), "{answer}");
            assert_eq!(answer["address"], format!("{address}:8080"), "{answer}");
            answered += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        answered
    });
    cluster.restart_server(Duration::from_secs(8)).await;
    let answered = calls
        .await
        .expect("every call while the server was down was answered");
    assert!(
        answered >= 20,
        "only {answered} calls were made while the server was down"
    );
}

/// Calls per `/call?count=N`: each kept-alive connection from `web` lasts
/// about half a second, long enough to be open to an api task when a
/// rollout removes it from the backends and stops it.
const BATCH: usize = 1000;

/// A `/call` answer for one call: api answered 200 with its banner.
fn one_call_answered(body: &str) -> Result<Vec<Duration>, String> {
    let answer: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    let banner = answer["body"].as_str().unwrap_or_default();
    if answer["status"] == 200 && banner.starts_with("shoal-demo") {
        Ok(Vec::new())
    } else {
        Err(format!("api answered {body}"))
    }
}

/// A `/call?count=BATCH` answer: every call answered 200, with the latencies
/// web measured.
fn every_call_answered(body: &str) -> Result<Vec<Duration>, String> {
    let answer: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    let micros: Vec<Duration> = answer["micros"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(Duration::from_micros)
        .collect();
    if answer["calls"] == BATCH && answer["failed"] == 0 && micros.len() == BATCH {
        Ok(micros)
    } else {
        Err(format!("not every call was answered: {body}"))
    }
}

/// The service `api` of two tasks running `version`, rolled one task at a
/// time in `order`, with short waits so that four rollouts fit in a minute.
fn api(version: &str, order: &str) -> Value {
    let mut spec = demo("api", 2, &["backend"], &[]);
    spec["image"] = json!(demo_image(version));
    spec["update_config"] = json!({ "parallelism": 1, "order": order, "monitor": "1s" });
    spec
}

fn assert_no_failures(what: &str, report: &Report) {
    for (phase, figures) in &report.phases {
        assert_eq!(
            figures.failures, 0,
            "{what}, {phase}: {figures}; e.g. {:#?}",
            figures.examples
        );
    }
}

#[tokio::test]
async fn calls_by_name_on_new_and_kept_alive_connections_all_succeed_while_the_callee_rolls_both_ways_in_both_orders()
 {
    let _engine = ENGINE.lock().await;
    let cluster = three_workers_with(&["backend"]).await;
    // No constraint on api: starting first needs a node without its task.
    let api_service = cluster.create(api("v1", "stop-first")).await;
    let web = create_web(&cluster).await;
    cluster.until_healthy(&api_service, 2).await;
    cluster.until_healthy(&web, 1).await;
    until_check_passes(&only_container(&cluster, &web).await, "http://api:8080/").await;

    // The test keeps its connections to web alive: what is under test is the
    // hop from web's task to api, which each `/call` makes on a new
    // connection and each `/call?count=N` over one kept-alive connection.
    let endpoint = call_endpoint(&cluster.live(&web).await[0]);
    let shape = |workers, judge| Shape {
        keep_alive_workers: workers,
        new_connection_workers: 0,
        pause: Duration::from_millis(2),
        max_requests: 1_000_000,
        max_time: Duration::from_secs(300),
        judge,
    };
    let before = "before (2 × v1, steady)";
    let new_connections = Load::start(
        vec![format!("{endpoint}?url=http://api:8080/")],
        shape(3, one_call_answered),
        before,
    );
    let kept_alive = Load::start(
        vec![format!("{endpoint}?url=http://api:8080/&count={BATCH}")],
        shape(2, every_call_answered),
        before,
    );
    let phase = |name: &str| {
        new_connections.phase(name);
        kept_alive.phase(name);
    };
    tokio::time::sleep(Duration::from_secs(5)).await;

    let steps = [
        ("v2", "stop-first"),
        ("v1", "stop-first"),
        ("v2", "start-first"),
        ("v1", "start-first"),
    ];
    for (revision, (version, order)) in (2..).zip(steps) {
        phase(&format!("during → {version}, {order}"));
        cluster.put(&api_service, api(version, order)).await;
        cluster
            .rollout_completes(&api_service, "the rollout", |r| r.to_revision == revision)
            .await;
        phase(&format!("after → {version}"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let calls = || new_connections.sent() + kept_alive.sent() * BATCH as u64;
    let topping_up = Instant::now();
    while calls() < 12_000 && topping_up.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let new_connections = new_connections.stop().await;
    let kept_alive = kept_alive.stop().await;
    println!("calls from web to api by name, each on a new connection:\n{new_connections}");
    println!("calls from web to api by name, {BATCH} per kept-alive connection:\n{kept_alive}");
    assert_no_failures("new connections", &new_connections);
    assert_no_failures("kept-alive connections", &kept_alive);
    let calls = new_connections.total.requests + kept_alive.total.calls;
    assert!(calls >= 10_000, "only {calls} calls; the load test needs 10,000");
    let versions = cluster.versions(&api_service).await;
    assert!(versions.values().all(|v| v == "v1"), "{versions:?}");
}
