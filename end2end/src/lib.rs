//! The harness for browser and whole-cluster tests: real `shoal-server`
//! processes from the release build, and headless Chromium driven through
//! chromedriver. Everything a test starts is stopped when its handle drops,
//! also when the test fails.

mod a11y;
mod agent;
mod api;
mod browser;
mod docker;
mod server;

pub use agent::AgentProcess;
pub use api::Api;
pub use browser::Browser;
pub use docker::{RemoveContainers, containers_of};
pub use server::ServerProcess;

use std::{net::TcpListener, path::PathBuf};

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

/// A TCP port on loopback that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("find a free port")
}
