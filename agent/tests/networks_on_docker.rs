//! Service networks with a real Docker container: the agent's reconciler
//! creates a `shoal-demo` task on a network, the watcher finds it running
//! and the agent serves it. From inside the container, the demo program's
//! own `check` reaches a backend on the host's loopback through a virtual
//! address on port 8080, the port the demo program itself listens on, and
//! another network's virtual address is refused. The test removes the
//! containers it made, also when an assertion fails; the demo images are
//! built on first use (nothing is pulled).

#[path = "support/dns.rs"]
mod dns;
#[path = "support/docker.rs"]
mod on_docker;

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener},
    sync::Arc,
    time::{Duration, Instant},
};

use on_docker::{TestNode, docker};
use shoal_agent::{
    docker::watch_networked,
    ingress::{Ingress, Limits},
    network::{Networks, netns::Namespace},
};
use shoal_proto::{
    service::{self, DesiredState, Protocol, PullPolicy},
    wire::{Assignment, Backend, ContainerSpec, NetworkedPort, NetworkedService},
};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const API: Ipv4Addr = Ipv4Addr::new(127, 128, 0, 1);
const BILLING: Ipv4Addr = Ipv4Addr::new(127, 128, 0, 2);
/// Generous: other builds share the machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// An HTTP server on the host's loopback that answers every request 200.
fn http_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    addr
}

fn service(id: &str, name: &str, network: &str, address: Ipv4Addr, backend: SocketAddr) -> NetworkedService {
    NetworkedService {
        service_id: id.into(),
        service_name: name.into(),
        networks: vec![network.into()],
        address,
        ports: vec![NetworkedPort {
            target: 8080,
            protocol: Protocol::Tcp,
            backends: vec![Backend {
                task_id: format!("{name}-1"),
                node_id: "n1".into(),
                addr: backend.to_string(),
            }],
        }],
    }
}

fn web_task(task_id: &str) -> Assignment {
    Assignment {
        task_id: task_id.into(),
        service_id: "s-web".into(),
        service_name: "web".into(),
        slot: Some(1),
        revision: 1,
        desired: DesiredState::Running,
        container: ContainerSpec {
            image: "shoal-demo:v1".into(),
            entrypoint: None,
            command: None,
            environment: BTreeMap::new(),
            ports: Vec::new(),
            networks: vec!["backend".into()],
            healthcheck: None,
            probe: None,
            nano_cpus: None,
            memory_bytes: Some(64 << 20),
            stop_grace_period: service::Duration::from_secs(1),
            pull_policy: PullPolicy::Never,
            registry_auth: None,
        },
    }
}

/// Whether `shoal-demo check URL`, run inside the container, got a 200;
/// asked until it does or time runs out, since the agent opens the
/// container's sockets a moment after it starts.
fn check_from_inside(container: &str, url: &str, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    loop {
        if docker(&["exec", container, "/shoal-demo", "check", url]).is_ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_on_a_network_resolves_through_the_agent_and_reaches_a_service_on_its_own_port() {
    let node = TestNode::new("networks");
    let engine = node.engine().await;

    let ingress = Ingress::new(LOOPBACK, Limits::default());
    let networks = Networks::new(&ingress, Arc::from([]));
    let (api, billing) = (http_backend(), http_backend());
    networks.apply(&[
        service("s-api", "api", "backend", API, api),
        service("s-billing", "billing", "payments", BILLING, billing),
    ]);
    tokio::spawn(watch_networked(&engine, &node.id, networks.clone()));
    let (tasks, _reports) = node.reconciler(&engine);
    let task_id = format!("web-{}", node.id);
    tasks.replace(vec![web_task(&task_id)]);

    let filter = format!("label=shoal.task.id={task_id}");
    let deadline = Instant::now() + PATIENCE;
    let container = loop {
        let running = docker(&["ps", "--quiet", "--no-trunc", "--filter", &filter]).unwrap();
        if !running.is_empty() {
            break running;
        }
        assert!(Instant::now() < deadline, "the task's container never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let resolv_path = docker(&["inspect", "--format", "{{.ResolvConfPath}}", &container]).unwrap();
    let resolv = std::fs::read_to_string(&resolv_path).unwrap();
    let nameservers: Vec<&str> = resolv
        .lines()
        .filter_map(|line| line.strip_prefix("nameserver "))
        .collect();
    assert_eq!(nameservers, ["127.0.0.53"], "{resolv}");
    assert!(
        resolv.contains("attempts:5") && resolv.contains("timeout:1"),
        "{resolv}"
    );

    // The demo program listens on 0.0.0.0:8080 in the container, and still
    // reaches api's virtual address on 8080.
    let (reached, refused) = tokio::task::spawn_blocking({
        let container = container.clone();
        move || {
            (
                check_from_inside(&container, &format!("http://{API}:8080/health"), PATIENCE),
                check_from_inside(
                    &container,
                    &format!("http://{BILLING}:8080/health"),
                    Duration::ZERO,
                ),
            )
        }
    })
    .await
    .unwrap();
    assert!(
        reached,
        "api's virtual address did not answer inside the container"
    );
    assert!(
        !refused,
        "billing is on another network, yet its virtual address answered"
    );

    // The demo program resolves no names; ask the resolver from inside the
    // container's namespace instead.
    let pid: u32 = docker(&["inspect", "--format", "{{.State.Pid}}", &container])
        .unwrap()
        .parse()
        .unwrap();
    let (api_name, billing_name) = tokio::task::spawn_blocking(move || {
        Namespace::of_process(pid)
            .unwrap()
            .run(|| (dns::resolve("api.backend"), dns::resolve("billing")))
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(api_name, Some((0, Some(API))));
    assert_eq!(billing_name, Some((3, None)));
}
