//! The harness for browser and whole-cluster tests: real `shoal-server`
//! processes from the release build, and headless Chromium driven through
//! chromedriver. Everything a test starts is stopped when its handle drops,
//! also when the test fails.

mod agent;
mod browser;
mod docker;
mod server;

pub use agent::AgentProcess;
pub use browser::Browser;
pub use docker::{RemoveContainers, containers_of};
pub use server::ServerProcess;

use std::path::PathBuf;

/// The top of the workspace, where `target/` lives.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("end2end/ sits inside the workspace")
        .to_path_buf()
}

/// Screenshots go under `target/screenshots/` so a failing run can be looked at.
pub fn screenshot_dir() -> PathBuf {
    workspace_root().join("target").join("screenshots")
}
