//! A flood on a published port does not starve the agent of descriptors:
//! the node can still open its own connections (to the server, the Docker
//! engine, a health probe), so it stays ready and keeps its tasks.
//!
//! The open-file limit belongs to a process, and lowering this test
//! binary's would starve the tests running beside it; so the node is a
//! child process, this test binary again running only
//! [`the_flooded_node`], with its limit lowered and the default caps. This
//! test plays the server and the clients.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    process::Command,
    time::timeout,
};

use super::{
    Ingress, Limits,
    limits::RESERVED_DESCRIPTORS,
    tests::{LOCALHOST, Reception, free_port, greeter, line, reception, table},
};

/// Tells the child half where the server and the backend are; without it,
/// that half does nothing.
const SERVER: &str = "SHOAL_TEST_FLOODED_NODE_SERVER";
const BACKEND: &str = "SHOAL_TEST_FLOODED_NODE_BACKEND";

/// The node-wide cap the child's open-file limit leaves.
const NODE_CAP: usize = 16;

/// Clients in the flood: far more than the child has descriptors for.
const FLOOD: usize = 300;

/// Connections the node opens of its own at once, the flood going on: the
/// server's, the Docker engine's, a few health probes'.
const OWN: usize = 8;

#[tokio::test]
async fn a_flood_on_a_published_port_leaves_the_node_descriptors_for_its_own_connections() {
    let backend = greeter("a").await;
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node = Command::new(std::env::current_exe().unwrap())
        .args([
            "ingress::starvation::the_flooded_node",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(SERVER, server.local_addr().unwrap().to_string())
        .env(BACKEND, backend.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (session, _) = timeout(Duration::from_secs(10), server.accept())
        .await
        .expect("the node never connected")
        .unwrap();
    let mut session = BufReader::new(session);
    let published: u16 = line(&mut session)
        .await
        .trim()
        .strip_prefix("listening on ")
        .expect("the node did not say its port")
        .parse()
        .unwrap();

    let mut clients = Vec::new();
    for _ in 0..FLOOD {
        let client = TcpStream::connect(SocketAddr::new(LOCALHOST, published))
            .await
            .unwrap();
        clients.push(BufReader::new(client));
    }
    let mut greeted = 0;
    for client in &mut clients {
        if let Reception::Greeted(_) = reception(client).await {
            greeted += 1;
        }
    }
    assert_eq!(greeted, NODE_CAP, "clients proxied out of {FLOOD}");

    // With every proxied connection still open, the node opens several of
    // its own.
    session.write_all(b"dial\n").await.unwrap();
    assert_eq!(line(&mut session).await, format!("dialled {OWN}\n"));
    for _ in 0..OWN {
        let dialled = timeout(Duration::from_secs(5), server.accept()).await;
        assert!(matches!(dialled, Ok(Ok(_))), "{dialled:?}");
    }

    drop(session);
    let output = timeout(Duration::from_secs(10), node.wait_with_output())
        .await
        .expect("the node did not stop")
        .unwrap();
    assert!(
        output.status.success(),
        "the node failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The node's half: lowers its open-file limit, listens on a published
/// port with the default caps, and dials the server whenever asked.
#[tokio::test]
#[ignore = "the child half of a_flood_on_a_published_port_leaves_the_node_descriptors_for_its_own_connections"]
async fn the_flooded_node() {
    let (Ok(server), Ok(backend)) = (std::env::var(SERVER), std::env::var(BACKEND)) else {
        return;
    };
    lower_open_files_limit(RESERVED_DESCRIPTORS + 2 * NODE_CAP as u64);
    let limits = Limits::default();
    assert_eq!(
        limits.total, NODE_CAP,
        "the cap does not follow the open-file limit"
    );
    let ingress = Ingress::new(LOCALHOST, limits);
    let published = free_port();
    let status = ingress.apply(table(1, published, &[("ta", backend.parse().unwrap())]));
    assert_eq!(status.ports[0].error, None);

    let mut session = BufReader::new(TcpStream::connect(&server).await.unwrap());
    let said = format!("listening on {published}\n");
    session.get_mut().write_all(said.as_bytes()).await.unwrap();
    // Until the server hangs up.
    let mut asked = String::new();
    while session.read_line(&mut asked).await.unwrap() > 0 {
        assert_eq!(asked, "dial\n");
        let mut own = Vec::new();
        let mut answer = format!("dialled {OWN}\n");
        for n in 1..=OWN {
            match TcpStream::connect(&server).await {
                Ok(stream) => own.push(stream),
                Err(error) => {
                    answer = format!("could not open connection {n}: {error}\n");
                    break;
                }
            }
        }
        session.get_mut().write_all(answer.as_bytes()).await.unwrap();
        asked.clear();
    }
}

fn lower_open_files_limit(soft: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls read or write one `rlimit` through a pointer to a
    // live, properly aligned value, and keep no reference to it.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}
