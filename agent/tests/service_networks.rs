//! Service networks inside a real network namespace that the test makes
//! itself (`unshare -n`), standing in for a container's: the agent's code
//! opens the resolver and the virtual addresses' listener in it, and a
//! client inside it resolves names and connects through a virtual address,
//! and through each task's own address, to backends on the host's
//! loopback. Needs root, `unshare`, `ip` and
//! `iptables`, as the agent does.

#[path = "support/dns.rs"]
mod dns;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use dns::{RESOLVER, query, read_all, resolve, resolve_all};

use shoal_agent::{
    ingress::{Ingress, Limits},
    network::{Container, Networks, netns::Namespace},
};
use shoal_proto::{
    service::Protocol,
    wire::{Backend, NetworkedPort, NetworkedService},
};

const API: Ipv4Addr = Ipv4Addr::new(127, 128, 0, 1);
const BILLING: Ipv4Addr = Ipv4Addr::new(127, 128, 0, 2);
/// What the stand-in for the host's resolver answers every name with.
const UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

/// A process alone in a new network namespace with its loopback up; killed
/// when dropped, which ends the namespace.
struct Sandbox(Child);

impl Sandbox {
    fn start() -> Self {
        let mut child = Command::new("unshare")
            .args(["-n", "sh", "-c", "ip link set lo up && echo up && exec sleep 600"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare runs");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line, "up\n",
            "the namespace's loopback did not come up (root? ip?)"
        );
        Self(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A backend on the host's loopback that says `name`, then echoes.
fn greeter(name: &'static str) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                stream.write_all(format!("{name}\n").as_bytes()).unwrap();
                let mut copy = stream.try_clone().unwrap();
                let _ = std::io::copy(&mut stream, &mut copy);
            });
        }
    });
    addr
}

/// A stand-in for the host's resolver: answers every query with one A
/// record, [`UPSTREAM_ANSWER`].
fn upstream() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buffer = [0; 512];
        loop {
            let (length, client) = socket.recv_from(&mut buffer).unwrap();
            let mut answer = buffer[..length].to_vec();
            answer[2] |= 0x80;
            answer[7] = 1; // one answer
            answer.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
            answer.extend_from_slice(&UPSTREAM_ANSWER.octets());
            socket.send_to(&answer, client).unwrap();
        }
    });
    addr
}

/// A service with a task `task_id` at each backend, on port 8080.
fn service(
    id: &str,
    name: &str,
    network: &str,
    address: Ipv4Addr,
    backends: &[(&str, SocketAddr)],
) -> NetworkedService {
    NetworkedService {
        service_id: id.into(),
        service_name: name.into(),
        networks: vec![network.into()],
        address,
        ports: vec![NetworkedPort {
            target: 8080,
            protocol: Protocol::Tcp,
            backends: backends
                .iter()
                .map(|(task_id, addr)| Backend {
                    task_id: (*task_id).into(),
                    node_id: "n1".into(),
                    addr: addr.to_string(),
                })
                .collect(),
        }],
    }
}

fn resolve_over_tcp(name: &str) -> (u8, Option<Ipv4Addr>) {
    let mut stream = TcpStream::connect(RESOLVER).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let packet = query(77, name);
    stream.write_all(&(packet.len() as u16).to_be_bytes()).unwrap();
    stream.write_all(&packet).unwrap();
    let mut length = [0; 2];
    stream.read_exact(&mut length).unwrap();
    let mut answer = vec![0; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut answer).unwrap();
    let (rcode, addresses) = read_all(&answer, 77);
    (rcode, addresses.first().copied())
}

/// Connects to a virtual or task address and returns the backend's greeting, after
/// checking that bytes sent come back.
fn greeting(address: Ipv4Addr) -> Result<String, String> {
    let stream = TcpStream::connect_timeout(&SocketAddr::from((address, 8080)), Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut greeting = String::new();
    reader.read_line(&mut greeting).map_err(|e| e.to_string())?;
    if greeting.is_empty() {
        return Err("closed at once".into());
    }
    let mut writer = stream;
    writer.write_all(b"ping\n").unwrap();
    let mut echo = String::new();
    reader.read_line(&mut echo).unwrap();
    assert_eq!(echo, "ping\n", "the bytes did not come back");
    Ok(greeting.trim().to_owned())
}

/// Runs `client` inside the sandbox's namespace, off the runtime's threads.
async fn inside<T: Send + 'static>(pid: u32, client: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(move || Namespace::of_process(pid).unwrap().run(client).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_on_a_network_resolves_and_reaches_its_services_and_nothing_else() {
    assert_eq!(
        effective_uid(),
        0,
        "this test needs root, as the agent does for service networks"
    );
    let sandbox = Sandbox::start();
    let pid = sandbox.pid();
    let api = [("api-1", greeter("api-1")), ("api-2", greeter("api-2"))];
    let billing = [("billing-1", greeter("billing-1"))];
    let ingress = Ingress::new(Ipv4Addr::LOCALHOST.into(), Limits::default());
    let networks = Networks::new(&ingress, Arc::from([upstream()]));
    networks.apply(&[
        service("s-api", "api", "backend", API, &api),
        service("s-billing", "billing", "payments", BILLING, &billing),
    ]);
    networks.set_containers(&[Container {
        id: "c1".into(),
        pid,
        networks: vec!["backend".into()],
    }]);

    let (api_name, api_dotted, billing_name, other, over_tcp, through, refused) = inside(pid, || {
        (
            resolve("api"),
            resolve("API.backend"),
            resolve("billing"),
            resolve("example.com"),
            resolve_over_tcp("api"),
            greeting(API),
            greeting(BILLING),
        )
    })
    .await;
    let (api_tasks, api_tasks_dotted, billing_tasks) = inside(pid, || {
        (
            resolve_all("tasks.api"),
            resolve_all("tasks.api.backend"),
            resolve_all("tasks.billing"),
        )
    })
    .await;
    assert_eq!(api_name, Some((0, Some(API))), "api");
    assert_eq!(api_dotted, Some((0, Some(API))), "API.backend");
    assert_eq!(
        billing_name,
        Some((3, None)),
        "billing is on another network: NXDOMAIN"
    );
    assert_eq!(
        other,
        Some((0, Some(UPSTREAM_ANSWER))),
        "other names: the host's resolver"
    );
    assert_eq!(over_tcp, (0, Some(API)), "over TCP");
    assert!(
        through.as_deref().is_ok_and(|said| said.starts_with("api-")),
        "{through:?}"
    );
    assert!(
        refused.is_err(),
        "billing's virtual address answered: {refused:?}"
    );
    let (rcode, task_addresses) = api_tasks.expect("tasks.api is answered");
    assert_eq!(rcode, 0, "tasks.api");
    assert_eq!(
        task_addresses.len(),
        2,
        "one address per task: {task_addresses:?}"
    );
    assert_eq!(
        api_tasks_dotted,
        Some((0, task_addresses.clone())),
        "tasks.api.backend"
    );
    assert_eq!(
        billing_tasks,
        Some((3, vec![])),
        "tasks.billing is on another network: NXDOMAIN"
    );
    // Each task address reaches its own task, every time: no balancing.
    let addresses = task_addresses.clone();
    let reached = inside(pid, move || {
        addresses
            .iter()
            .map(|&address| [greeting(address), greeting(address), greeting(address)])
            .collect::<Vec<_>>()
    })
    .await;
    let mut said: Vec<String> = reached
        .iter()
        .map(|tries| {
            assert!(
                tries.iter().all(|t| t == &tries[0]),
                "one address, one task: {tries:?}"
            );
            tries[0].clone().expect("a task address answers")
        })
        .collect();
    said.sort();
    assert_eq!(said, ["api-1", "api-2"]);
    let api_2 = task_addresses[reached
        .iter()
        .position(|t| t[0].as_deref() == Ok("api-2"))
        .unwrap()];

    // A new table puts billing on the container's network and api-2 is
    // gone: in place.
    networks.apply(&[
        service("s-api", "api", "backend", API, &api[..1]),
        service("s-billing", "billing", "backend", BILLING, &billing),
    ]);
    let (billing_name, through, api_tasks, gone) = inside(pid, move || {
        (
            resolve("billing.backend"),
            greeting(BILLING),
            resolve_all("tasks.api"),
            greeting(api_2),
        )
    })
    .await;
    assert_eq!(billing_name, Some((0, Some(BILLING))));
    assert_eq!(through, Ok("billing-1".to_owned()));
    let (_, left) = api_tasks.unwrap();
    assert!(
        left.len() == 1 && !left.contains(&api_2),
        "api-2 is still listed: {left:?}"
    );
    assert!(
        gone.is_err(),
        "a task gone still answers at its address: {gone:?}"
    );

    // The container stops: its sockets close.
    networks.set_containers(&[]);
    let closed = inside(pid, || {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if TcpStream::connect(RESOLVER).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
    .await;
    assert!(closed, "the resolver still listens after the container went");
}

fn effective_uid() -> u32 {
    // The owner of /proc/self is this process's effective user.
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
}
