//! A real `shoal-server` process, for tests that restart or kill the server
//! the way an operator or a crash would.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use reqwest::{Client, StatusCode};
use shoal_proto::node::Node;

/// Room for a busy two-core machine to start the server.
const START: Duration = Duration::from_secs(60);

/// A `shoal-server` process with its data in `dir/data`, killed when dropped.
/// Heartbeats are 1 s, 3 may be missed.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub agent_addr: String,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts the server with its agent gateway on `agent_listen` (a port of
    /// 0 picks a free one) and its stderr in `dir/{name}.log`, after what
    /// earlier runs of the same name wrote there.
    pub fn start(dir: &Path, agent_listen: &str, name: &str) -> Self {
        let log = dir.join(format!("{name}.log"));
        let stderr = File::options().create(true).append(true).open(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-server"))
            .args(["--listen", "127.0.0.1:0", "--agent-listen", agent_listen])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--heartbeat-interval", "1s", "--heartbeat-misses", "3"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("shoal-server starts");
        let (lines, found) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            // Read to the end, so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut server = Self {
            child,
            url: String::new(),
            agent_addr: String::new(),
            log,
        };
        while server.url.is_empty() || server.agent_addr.is_empty() {
            let line = found
                .recv_timeout(START)
                .unwrap_or_else(|_| panic!("the server did not start; its log:\n{}", server.log()));
            if let Some(url) = line.strip_prefix("Shoal console: ") {
                server.url = url.trim_end_matches('/').to_owned();
            }
            if let Some(addr) = line.strip_prefix("Agents join at: ") {
                server.agent_addr = addr.to_owned();
            }
        }
        server
    }

    /// SIGKILL, as a crash or a power cut would end it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client logged in as the admin [`create_admin`] made.
    pub async fn admin(&self) -> Client {
        super::login(&self.url, "admin").await
    }

    pub async fn nodes(&self, client: &Client) -> Vec<Node> {
        let response = client
            .get(format!("{}/api/v1/nodes", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `shoal-server admin create --username admin` on `dir/data`, with the
/// tests' password.
pub fn create_admin(dir: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .args(["admin", "create", "--username", "admin"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", super::PASSWORD).unwrap();
    assert!(child.wait().unwrap().success());
}
