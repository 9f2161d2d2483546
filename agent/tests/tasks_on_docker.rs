//! The task reconciler against the real Docker engine, driven directly (no
//! server): each test acts as a node of its own, with a node id no other
//! test uses, and removes every container carrying that id on the way out,
//! also when an assertion fails. The demo images are built on first use.

#[path = "support/docker.rs"]
mod on_docker;

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, TcpListener, TcpStream},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use on_docker::{TestNode, must};
use shoal_proto::{
    service::{
        self, DesiredState, HealthCheck, PortConfig, Probe, ProbeKind, Protocol, PublishMode, PullPolicy,
        TaskState,
    },
    wire::{Assignment, ContainerSpec, TaskReport},
};
use tokio::{sync::mpsc::UnboundedReceiver, time::timeout};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Generous: health checks run every 2 s, and other builds share the machine.
const PATIENCE: Duration = Duration::from_secs(60);

fn assignment(task_id: &str, image: &str) -> Assignment {
    Assignment {
        task_id: task_id.into(),
        service_id: "svc1".into(),
        service_name: "web".into(),
        slot: Some(1),
        revision: 3,
        desired: DesiredState::Running,
        container: ContainerSpec {
            image: image.into(),
            entrypoint: None,
            command: None,
            environment: BTreeMap::new(),
            ports: vec![PortConfig {
                target: 8080,
                published: Some(8080),
                protocol: Protocol::Tcp,
                mode: PublishMode::Ingress,
            }],
            networks: Vec::new(),
            healthcheck: None,
            probe: None,
            nano_cpus: None,
            memory_bytes: Some(64 << 20),
            stop_grace_period: service::Duration::from_secs(2),
            pull_policy: PullPolicy::Missing,
            registry_auth: None,
        },
    }
}

fn task_id(test: &str, n: u32) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{test}{n}x{nanos}")
}

/// Every report up to the first of `task_id` that `wanted` accepts, which
/// comes last.
async fn until(
    reports: &mut UnboundedReceiver<TaskReport>,
    task_id: &str,
    what: &str,
    wanted: impl Fn(&TaskReport) -> bool,
) -> Vec<TaskReport> {
    let mut seen = Vec::new();
    let waiting = async {
        while let Some(report) = reports.recv().await {
            let done = report.task_id == task_id && wanted(&report);
            seen.push(report);
            if done {
                return;
            }
        }
        panic!("the reconciler stopped");
    };
    if timeout(PATIENCE, waiting).await.is_err() {
        panic!("no report of {task_id} {what} within {PATIENCE:?}; reports: {seen:#?}");
    }
    seen
}

fn states(reports: &[TaskReport], task_id: &str) -> Vec<TaskState> {
    let mut states: Vec<TaskState> = reports
        .iter()
        .filter(|report| report.task_id == task_id)
        .map(|report| report.state)
        .collect();
    states.dedup();
    states
}

fn http(port: u16, method: &str, path: &str) -> String {
    let mut stream = TcpStream::connect((LOOPBACK, port)).expect("the published port accepts");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[tokio::test]
async fn a_task_runs_healthy_on_its_port_and_fails_when_killed() {
    let node = TestNode::new("run");
    let (tasks, mut reports) = node.agent().await;
    let task = task_id("run", 1);
    tasks.replace(vec![assignment(&task, "shoal-demo:v1")]);

    let seen = until(&mut reports, &task, "healthy", |r| r.healthy == Some(true)).await;
    use TaskState::*;
    assert_eq!(states(&seen, &task), [Accepted, Preparing, Starting, Running]);
    let healthy = seen.last().unwrap();
    assert_eq!(healthy.message, "health check passing");
    let container = healthy.container_id.clone().expect("a container id");
    assert_eq!(node.containers(Some(&task)), std::slice::from_ref(&container));

    let labels = must(&["inspect", "--format", "{{json .Config.Labels}}", &container]);
    let labels: BTreeMap<String, String> = serde_json::from_str(&labels).unwrap();
    for (key, value) in [
        ("shoal.service.id", "svc1"),
        ("shoal.service.name", "web"),
        ("shoal.task.id", task.as_str()),
        ("shoal.slot", "1"),
        ("shoal.revision", "3"),
        ("shoal.node.id", node.id.as_str()),
    ] {
        assert_eq!(labels.get(key).map(String::as_str), Some(value), "label {key}");
    }
    let name = must(&["inspect", "--format", "{{.Name}}", &container]);
    assert_eq!(name, format!("/shoal-web.1.{task}"));
    let restart = must(&[
        "inspect",
        "--format",
        "{{.HostConfig.RestartPolicy.Name}}",
        &container,
    ]);
    assert_eq!(restart, "no");

    let [port] = healthy.ports.as_slice() else {
        panic!("one port binding expected: {:?}", healthy.ports)
    };
    assert_eq!((port.target, port.protocol), (8080, Protocol::Tcp));
    assert_eq!(port.host_ip, "127.0.0.1");
    assert_ne!(port.host_port, 0);
    let answer = http(port.host_port, "GET", "/");
    assert!(answer.contains("shoal-demo v1"), "{answer}");

    must(&["kill", &container]);
    let seen = until(&mut reports, &task, "failed", |r| r.state == Failed).await;
    let failed = seen.last().unwrap();
    assert_eq!(failed.exit_code, Some(137));
    assert_eq!(failed.message, "exited with code 137");
    assert_eq!(failed.container_id.as_deref(), Some(container.as_str()));
    // The agent never restarts a task: the server replaces it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(node.containers(Some(&task)), [container]);

    tasks.update(Vec::new(), vec![task.clone()]);
    node.until_gone(&task).await;
}

#[tokio::test]
async fn a_restarted_agent_adopts_what_runs_and_removes_what_no_longer_belongs() {
    let node = TestNode::new("adopt");
    let neighbour = TestNode::new("neighbour");
    let (kept, gone, theirs) = (task_id("adopt", 1), task_id("adopt", 2), task_id("adopt", 3));
    let (neighbour_tasks, mut neighbour_reports) = neighbour.agent().await;
    neighbour_tasks.replace(vec![assignment(&theirs, "shoal-demo:v1")]);

    let (tasks, mut reports) = node.agent().await;
    tasks.replace(vec![
        assignment(&kept, "shoal-demo:v1"),
        assignment(&gone, "shoal-demo:v1"),
    ]);
    let mut running = Vec::new();
    for task in [&kept, &gone] {
        running.extend(until(&mut reports, task, "running", |r| r.state == TaskState::Running).await);
    }
    let container = running
        .iter()
        .find(|report| report.task_id == kept && report.state == TaskState::Running)
        .and_then(|report| report.container_id.clone())
        .unwrap();
    until(&mut neighbour_reports, &theirs, "running", |r| {
        r.state == TaskState::Running
    })
    .await;

    // The agent restarts; meanwhile the server took one task away.
    drop((tasks, reports));
    let (tasks, mut reports) = node.agent().await;
    tasks.replace(vec![assignment(&kept, "shoal-demo:v1")]);
    let seen = until(&mut reports, &kept, "adopted", |r| r.state == TaskState::Running).await;
    assert_eq!(
        seen.last().unwrap().container_id.as_deref(),
        Some(container.as_str())
    );
    node.until_gone(&gone).await;
    assert_eq!(node.containers(Some(&kept)), std::slice::from_ref(&container));
    assert_eq!(
        neighbour.containers(Some(&theirs)).len(),
        1,
        "another node's container"
    );

    let mut stopping = assignment(&kept, "shoal-demo:v1");
    stopping.desired = DesiredState::Shutdown;
    tasks.update(vec![stopping], Vec::new());
    let seen = until(&mut reports, &kept, "shut down", |r| {
        r.state == TaskState::Shutdown
    })
    .await;
    assert_eq!(seen.last().unwrap().message, "stopped by the orchestrator");
    let status = must(&["inspect", "--format", "{{.State.Status}}", &container]);
    assert_eq!(status, "exited");

    tasks.update(Vec::new(), vec![kept.clone()]);
    node.until_gone(&kept).await;
    assert_eq!(
        neighbour.containers(Some(&theirs)).len(),
        1,
        "another node's container"
    );
}

#[tokio::test]
async fn an_unhealthy_container_is_reported_running_and_failing_its_check_until_removed() {
    let node = TestNode::new("unhealthy");
    let (tasks, mut reports) = node.agent().await;
    let task = task_id("unhealthy", 1);
    tasks.replace(vec![assignment(&task, "shoal-demo:bad")]);
    let seen = until(&mut reports, &task, "unhealthy", |r| r.healthy == Some(false)).await;
    let unhealthy = seen.last().unwrap();
    assert_eq!(unhealthy.state, TaskState::Running);
    assert_eq!(unhealthy.message, "health check failing");

    must(&["rm", "--force", unhealthy.container_id.as_deref().unwrap()]);
    let seen = until(&mut reports, &task, "failed", |r| r.state == TaskState::Failed).await;
    assert_eq!(seen.last().unwrap().message, "container removed outside Shoal");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(node.containers(None).is_empty(), "the task ran again");
}

#[tokio::test]
async fn a_task_whose_image_cannot_be_had_is_rejected() {
    let node = TestNode::new("image");
    let (tasks, mut reports) = node.agent().await;
    let absent = task_id("image", 1);
    let mut never = assignment(&absent, "shoal-demo:absent");
    never.container.pull_policy = PullPolicy::Never;
    // Nothing listens on the discard port: the pull fails at once.
    let unreachable = task_id("image", 2);
    let pulled = assignment(&unreachable, "127.0.0.1:9/shoal-demo:v1");
    tasks.replace(vec![never, pulled]);

    let mut seen = until(&mut reports, &absent, "rejected", |r| {
        r.state == TaskState::Rejected
    })
    .await;
    let rejected = seen.last().unwrap().clone();
    assert!(
        rejected.error.as_deref().unwrap().contains("pull_policy"),
        "{rejected:?}"
    );

    seen.extend(
        until(&mut reports, &unreachable, "rejected", |r| {
            r.state == TaskState::Rejected
        })
        .await,
    );
    let messages: Vec<&str> = seen
        .iter()
        .filter(|r| r.task_id == unreachable)
        .map(|r| r.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "accepted by the node",
            "pulling 127.0.0.1:9/shoal-demo:v1",
            "pulling 127.0.0.1:9/shoal-demo:v1 failed"
        ]
    );
    let error = seen.last().unwrap().error.clone().unwrap();
    assert!(error.contains("127.0.0.1:9"), "{error}");
    assert!(node.containers(None).is_empty());
}

#[tokio::test]
async fn a_container_that_cannot_start_fails_its_task_with_the_engines_reason() {
    let node = TestNode::new("conflict");
    let (tasks, mut reports) = node.agent().await;
    let free_port = TcpListener::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let on_host_port = |task: &str| {
        let mut task = assignment(task, "shoal-demo:v1");
        task.container.ports[0] = PortConfig {
            target: 8080,
            published: Some(free_port),
            protocol: Protocol::Tcp,
            mode: PublishMode::Host,
        };
        task
    };
    let (first, second) = (task_id("conflict", 1), task_id("conflict", 2));
    tasks.replace(vec![on_host_port(&first)]);
    let seen = until(&mut reports, &first, "running", |r| r.state == TaskState::Running).await;
    let running = seen.last().unwrap();
    assert_eq!(running.ports[0].host_port, free_port);

    tasks.update(vec![on_host_port(&second)], Vec::new());
    let seen = until(&mut reports, &second, "failed", |r| r.state == TaskState::Failed).await;
    let failed = seen.last().unwrap();
    assert_eq!(failed.message, "cannot start the container");
    let error = failed.error.as_deref().unwrap();
    assert!(error.contains(&free_port.to_string()), "{error}");
    assert!(failed.container_id.is_some());
}

#[tokio::test]
async fn a_probed_task_turns_unhealthy_when_its_endpoint_fails_and_healthy_when_it_recovers() {
    let node = TestNode::new("probe");
    let (tasks, mut reports) = node.agent().await;
    let task = task_id("probe", 1);
    let mut probed = assignment(&task, "shoal-demo:v1");
    // The image's own check off, so that the probe alone decides.
    probed.container.healthcheck = Some(HealthCheck {
        test: Vec::new(),
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
        disable: true,
    });
    let (interval, retries) = (service::Duration::from_secs(1), 2);
    probed.container.probe = Some(Probe {
        kind: ProbeKind::Http,
        port: 8080,
        path: Some("/health".into()),
        interval,
        timeout: service::Duration::from_millis(500),
        retries,
        start_period: service::Duration::ZERO,
    });
    tasks.replace(vec![probed]);

    let seen = until(&mut reports, &task, "healthy", |r| r.healthy == Some(true)).await;
    let running = seen
        .iter()
        .find(|r| r.task_id == task && r.state == TaskState::Running)
        .unwrap();
    assert_eq!(
        (running.healthy, running.health_starting, running.message.as_str()),
        (None, true, "probe http :8080/health starting")
    );
    let healthy = seen.last().unwrap();
    assert_eq!(healthy.message, "probe http :8080/health passing");
    let port = healthy.ports[0].host_port;

    let answer = http(port, "POST", "/fail");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let failed_at = tokio::time::Instant::now();
    let seen = until(&mut reports, &task, "unhealthy", |r| r.healthy == Some(false)).await;
    let noticed = failed_at.elapsed();
    let unhealthy = seen.last().unwrap();
    assert_eq!(unhealthy.state, TaskState::Running);
    assert_eq!(
        unhealthy.message,
        "probe http :8080/health failing: HTTP 503 Service Unavailable"
    );
    // Up to one interval to the next attempt, then `retries` failures; the
    // margin is for a busy machine.
    let bound = interval.as_std() * retries + Duration::from_secs(3);
    assert!(
        noticed < bound,
        "noticed after {noticed:?}, expected within {bound:?}"
    );

    let answer = http(port, "POST", "/recover");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = until(&mut reports, &task, "healthy again", |r| r.healthy == Some(true)).await;
    assert_eq!(seen.last().unwrap().message, "probe http :8080/health passing");

    tasks.update(Vec::new(), vec![task.clone()]);
    node.until_gone(&task).await;
}
