use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use tempfile::TempDir;

use crate::workspace_root;

const CONSOLE_LINE: &str = "Shoal console: ";
const AGENTS_LINE: &str = "Agents join at: ";

/// A `shoal-server` process on a free loopback port with its own data dir.
pub struct ServerProcess {
    child: Child,
    url: String,
    /// Where agents join, as the server prints it.
    agent_addr: String,
    data_dir: TempDir,
}

impl ServerProcess {
    /// The release binary built by `cargo leptos build --release --split`, which is
    /// the one users run: the browser tests exercise what wasm-opt produced.
    pub fn binary() -> PathBuf {
        let path = std::env::var_os("SHOAL_E2E_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/release/shoal-server"));
        assert!(
            path.is_file(),
            "{} is missing: build it with `cargo leptos build --release --split` (scripts/test.sh does)",
            path.display()
        );
        path
    }

    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra `shoal-server` arguments (e.g. faster heartbeats).
    pub fn start_with(extra: &[&str]) -> Self {
        let data_dir = tempfile::Builder::new()
            .prefix("shoal-e2e-")
            .tempdir()
            .expect("create a data dir");
        let log = File::create(data_dir.path().join("server.log")).expect("create the server log");
        // Started from the data dir, so finding the site assets cannot rely on
        // the working directory.
        let mut child = Command::new(Self::binary())
            .current_dir(data_dir.path())
            .args(["--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0"])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir.path().join("data"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start shoal-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, url) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            let mut console = None;
            // Keep reading after the addresses so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix(CONSOLE_LINE) {
                    console = Some(url.trim_end_matches('/').to_owned());
                }
                if let Some(agents) = line.strip_prefix(AGENTS_LINE)
                    && let (Some(console), Some(found)) = (console.take(), found.take())
                {
                    let _ = found.send((console, agents.to_owned()));
                }
            }
        });
        let mut server = Self {
            child,
            url: String::new(),
            agent_addr: String::new(),
            data_dir,
        };
        match url.recv_timeout(Duration::from_secs(30)) {
            Ok((url, agent_addr)) => {
                server.url = url;
                server.agent_addr = agent_addr;
            }
            Err(_) => panic!(
                "shoal-server did not start within 30 s; its log:\n{}",
                server.log()
            ),
        }
        server
    }

    /// Creates an admin through `shoal-server admin create`, as an operator
    /// of a headless install would.
    pub fn create_admin(&self, username: &str, password: &str) {
        use std::io::Write;
        let mut child = Command::new(Self::binary())
            .args(["admin", "create", "--username", username, "--data-dir"])
            .arg(self.data_dir.path().join("data"))
            .env("RUST_LOG", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run shoal-server admin create");
        writeln!(child.stdin.take().expect("piped stdin"), "{password}").expect("write the password");
        let output = child.wait_with_output().expect("wait for admin create");
        assert!(
            output.status.success(),
            "admin create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A join token, through `shoal-server admin join-token`.
    pub fn join_token(&self, role: &str) -> String {
        let output = Command::new(Self::binary())
            .args(["admin", "join-token", role, "--data-dir"])
            .arg(self.data_dir.path().join("data"))
            .env("RUST_LOG", "off")
            .output()
            .expect("run shoal-server admin join-token");
        assert!(
            output.status.success(),
            "admin join-token failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Where agents join.
    pub fn agent_addr(&self) -> &str {
        &self.agent_addr
    }

    /// The console's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
