//! The containers agents made for a test's services, and their removal when
//! the test ends, also when it fails.

use std::process::Command;

/// Containers (any state) of the service named `service`.
pub fn containers_of(service: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=shoal.service.name={service}"),
        ])
        .output()
        .expect("the docker CLI runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Removes a service's containers when dropped.
pub struct RemoveContainers(pub &'static str);

impl Drop for RemoveContainers {
    fn drop(&mut self) {
        let ids = containers_of(self.0);
        if !ids.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f"]).args(&ids).output();
        }
    }
}
