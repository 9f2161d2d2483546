use std::{
    fs::File,
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use tempfile::TempDir;

use crate::workspace_root;

/// A `shoal-agent` process from the release build with its own data dir.
pub struct AgentProcess {
    child: Child,
    data_dir: TempDir,
}

impl AgentProcess {
    pub fn binary() -> PathBuf {
        let path = std::env::var_os("SHOAL_E2E_AGENT_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/release/shoal-agent"));
        assert!(
            path.is_file(),
            "{} is missing: build it with `cargo build --release -p shoal-agent` (scripts/test.sh does)",
            path.display()
        );
        path
    }

    /// `shoal-agent join --token TOKEN --hostname HOSTNAME SERVER`.
    pub fn join(server: &str, token: &str, hostname: &str) -> Self {
        let data_dir = tempfile::Builder::new()
            .prefix("shoal-e2e-agent-")
            .tempdir()
            .expect("agent data dir");
        let log = File::create(data_dir.path().join("agent.log")).expect("agent log");
        let child = Command::new(Self::binary())
            .args([
                "join",
                "--token",
                token,
                "--hostname",
                hostname,
                server,
                "--data-dir",
            ])
            .arg(data_dir.path().join("state"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start shoal-agent");
        Self { child, data_dir }
    }

    /// Kills the agent abruptly, as a crashed host would vanish.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("agent.log")).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
