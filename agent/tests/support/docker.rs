//! The real Docker engine for agent tests: the `docker` command, the demo
//! images built on first use (nothing is pulled), and a test node of its
//! own whose containers are removed on the way out, also when an assertion
//! fails. Each test binary uses part of it.
#![allow(dead_code)]

use std::{
    path::Path,
    process::Command,
    sync::Once,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use shoal_agent::{
    docker::{DockerRuntime, Node},
    docker_host::{DEFAULT_DOCKER_HOST, DockerHost},
    engine::Engine,
    tasks::Reconciler,
};
use shoal_proto::wire::TaskReport;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{LOOPBACK, PATIENCE};

pub fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .map_err(|error| format!("cannot run docker: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

pub fn must(args: &[&str]) -> String {
    docker(args).unwrap_or_else(|error| panic!("{error}"))
}

pub fn demo_images() {
    static BUILT: Once = Once::new();
    BUILT.call_once(|| {
        if ["shoal-demo:v1", "shoal-demo:bad"]
            .iter()
            .all(|image| docker(&["image", "inspect", image]).is_ok())
        {
            return;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-demo-images.sh");
        let output = Command::new(&script).output().expect("the image script runs");
        assert!(
            output.status.success(),
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

/// One test's node: its id, its containers' label, and their removal.
pub struct TestNode {
    pub id: String,
}

impl TestNode {
    pub fn new(test: &str) -> Self {
        demo_images();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Self {
            id: format!("test-{test}-{}-{nanos}", std::process::id()),
        }
    }

    /// The engine `DOCKER_HOST` names, or the local one.
    pub async fn engine(&self) -> Engine {
        let host: DockerHost = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| DEFAULT_DOCKER_HOST.to_owned())
            .parse()
            .expect("DOCKER_HOST names an engine");
        Engine::connect(host, Duration::from_secs(30))
            .await
            .expect("the Docker engine answers")
    }

    /// This node's reconciler on `engine`, publishing ports on loopback.
    pub fn reconciler(&self, engine: &Engine) -> (Reconciler, UnboundedReceiver<TaskReport>) {
        let node = Node {
            id: self.id.clone(),
            host_ip: LOOPBACK,
        };
        Reconciler::spawn(DockerRuntime::new(engine, node))
    }

    pub async fn agent(&self) -> (Reconciler, UnboundedReceiver<TaskReport>) {
        self.reconciler(&self.engine().await)
    }

    /// The ids of this node's containers, or of one task's among them.
    pub fn containers(&self, task_id: Option<&str>) -> Vec<String> {
        let mut args = vec![
            "ps".to_owned(),
            "--all".into(),
            "--quiet".into(),
            "--no-trunc".into(),
            "--filter".into(),
            format!("label=shoal.node.id={}", self.id),
        ];
        if let Some(task_id) = task_id {
            args.extend(["--filter".into(), format!("label=shoal.task.id={task_id}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        must(&args).lines().map(str::to_owned).collect()
    }

    pub async fn until_gone(&self, task_id: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.containers(Some(task_id)).is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{task_id}'s container is still there"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let ids = self.containers(None);
        if !ids.is_empty() {
            let mut args = vec!["rm", "--force", "--volumes"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
}
