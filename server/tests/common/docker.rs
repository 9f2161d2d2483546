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
/// the demo resolve names and answer `/call`, 3 makes `/call?count=N`'s
/// calls over one kept-alive connection.
const DEMO_REVISION: &str = "3";

/// The repository of the demo images: `$SHOAL_DEMO_REPO`, as for the image
/// script, else `shoal-demo`, so that a run can use images of its own while
/// another run on the same engine uses `shoal-demo`.
pub fn demo_repo() -> String {
    std::env::var("SHOAL_DEMO_REPO")
        .ok()
        .filter(|repo| !repo.is_empty())
        .unwrap_or_else(|| "shoal-demo".to_owned())
}

/// `{repo}:{tag}` of [`demo_repo`]: `v1`, `v2` or `bad`.
pub fn demo_image(tag: &str) -> String {
    format!("{}:{tag}", demo_repo())
}

/// The demo images `v1`, `v2` and `bad`, built from this repository (by the
/// script, which reads the same `$SHOAL_DEMO_REPO`) when missing or of
/// another revision than [`DEMO_REVISION`].
pub fn demo_images() {
    static BUILT: Once = Once::new();
    BUILT.call_once(|| {
        let format = "{{index .Config.Labels \"shoal.demo.revision\"}}";
        if ["v1", "v2", "bad"].iter().all(|tag| {
            docker(&["image", "inspect", "--format", format, &demo_image(tag)]).as_deref()
                == Ok(DEMO_REVISION)
        }) {
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
