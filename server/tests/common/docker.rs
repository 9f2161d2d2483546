//! The local Docker engine as the tests see it: the demo images, the
//! containers agents made, and their removal when a test ends however it ends.

use std::{
    path::Path,
    process::Command,
    sync::{Mutex, Once},
};

pub fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// The `revision` of scripts/build-demo-images.sh these tests need: 2 has
/// the demo resolve names and answer `/call`.
const DEMO_REVISION: &str = "2";

/// `shoal-demo:v1`, `:v2` and `:bad`, built from this repository when missing
/// or of another revision than [`DEMO_REVISION`].
pub fn demo_images() {
    static BUILT: Once = Once::new();
    BUILT.call_once(|| {
        let format = "{{index .Config.Labels \"shoal.demo.revision\"}}";
        if ["shoal-demo:v1", "shoal-demo:v2", "shoal-demo:bad"]
            .iter()
            .all(|image| {
                docker(&["image", "inspect", "--format", format, image]).as_deref() == Ok(DEMO_REVISION)
            })
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

/// Containers carrying a label, one id per line of `docker ps`.
pub fn containers(label: &str, all: bool) -> Vec<String> {
    let filter = format!("label={label}");
    let mut args = vec!["ps", "-q", "--no-trunc", "--filter", &filter];
    if all {
        args.push("-a");
    }
    docker(&args)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Removes every container of the nodes it was told about when dropped.
#[derive(Default)]
pub struct Cleanup {
    node_ids: Mutex<Vec<String>>,
}

impl Cleanup {
    pub fn node(&self, id: &str) {
        self.node_ids.lock().unwrap().push(id.to_owned());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in self.node_ids.lock().unwrap().iter() {
            let ids = containers(&format!("shoal.node.id={id}"), true);
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                let _ = docker(&args);
            }
        }
    }
}
