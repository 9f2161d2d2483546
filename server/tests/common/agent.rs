//! Real `shoal-agent` processes for tests, killed when dropped.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// The `shoal-agent` binary, built once per test binary by the cargo that
/// builds these tests, into the same target directory and profile: a
/// server test cannot depend on another package's binary otherwise.
pub fn binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let server = Path::new(env!("CARGO_BIN_EXE_shoal-server"));
        let profile_dir = server.parent().expect("the binary is in a profile directory");
        let profile = profile_dir.file_name().unwrap().to_str().unwrap();
        let target_dir = profile_dir
            .parent()
            .expect("the profile is in a target directory");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "shoal-agent", "--bin", "shoal-agent"])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
            .args(["--profile", if profile == "debug" { "dev" } else { profile }])
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building shoal-agent failed");
        profile_dir.join("shoal-agent")
    })
}

pub struct Agent {
    child: Child,
    pub data_dir: PathBuf,
    log: PathBuf,
}

impl Agent {
    /// `shoal-agent join --token TOKEN --hostname HOSTNAME SERVER` with its
    /// own data directory below `dir`, plus `extra` arguments.
    pub fn join(dir: &Path, server: &str, token: &str, hostname: &str, extra: &[&str]) -> Self {
        let data_dir = dir.join(hostname);
        let mut args = vec!["join", "--token", token, "--hostname", hostname, server];
        args.extend_from_slice(extra);
        Self::spawn(dir, &data_dir, &format!("{hostname}-join"), &args)
    }

    /// `shoal-agent run` on the data directory of an earlier join.
    pub fn run(dir: &Path, data_dir: &Path, name: &str) -> Self {
        Self::spawn(dir, data_dir, &format!("{name}-run"), &["run"])
    }

    fn spawn(dir: &Path, data_dir: &Path, name: &str, args: &[&str]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(binary())
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .env_remove("SHOAL_JOIN_TOKEN")
            .env_remove("SHOAL_AGENT_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("shoal-agent starts");
        Self {
            child,
            data_dir: data_dir.to_owned(),
            log,
        }
    }

    /// What the agent wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the agent to exit by itself, without blocking the test's
    /// runtime (which may be serving the agent).
    pub async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// SIGKILL, as a crash or a power cut would end it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}
