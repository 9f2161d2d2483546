//! The agent's connection to its Docker engine, through bollard, and the
//! facts about the engine and its host that the agent reports as its node's
//! inventory.

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use http::Uri;
use serde::Serialize;
use tracing::debug;

use crate::{docker_host::DockerHost, error::Error};

/// A Docker engine that has answered, with the API version both sides speak.
pub struct Engine {
    docker: Docker,
    host: DockerHost,
}

/// The engine and its host as the cluster sees them: what a node offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    /// The engine's release, e.g. `20.10.24`.
    pub engine_version: String,
    /// The Docker API version the agent speaks with this engine.
    pub api_version: String,
    /// The oldest and newest API versions the engine accepts.
    pub engine_min_api_version: String,
    pub engine_max_api_version: String,
    pub hostname: String,
    /// Platform in Go's terms (`linux`, `amd64`), as image platforms use.
    pub os: String,
    pub arch: String,
    /// The host's distribution, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub operating_system: String,
    pub kernel_version: String,
    pub cpus: u64,
    pub memory_bytes: u64,
    pub containers: u64,
    pub containers_running: u64,
    pub images: u64,
}

impl Engine {
    /// Connects and makes sure the engine answers: bollard connects lazily,
    /// so without a request an absent engine would go unnoticed until later.
    pub async fn connect(host: DockerHost, timeout: Duration) -> Result<Self, Error> {
        let seconds = timeout.as_secs();
        let docker = match &host {
            DockerHost::Unix(path) => Docker::connect_with_unix(path, seconds, API_DEFAULT_VERSION),
            DockerHost::Tcp(address) => Docker::connect_with_http(address, seconds, API_DEFAULT_VERSION),
        }
        .map_err(|error| Error::engine(&host, timeout, error))?;
        // bollard knows a newer API than many engines in service (Docker
        // 20.10 stops at 1.41), and engines refuse versions newer than their
        // own, so agree on the older of the two.
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|error| Error::engine(&host, timeout, error))?;
        let version = docker.client_version();
        debug!(%host, api_version = %version, "connected to the Docker engine");
        // bollard 0.21 leaves the version out of request paths, so an engine
        // would answer in its own newest API whatever was agreed; pin it.
        let prefix = format!("/v{version}");
        let docker = docker.with_request_modifier(move |mut request| {
            if let Some(uri) = with_path_prefix(request.uri(), &prefix) {
                *request.uri_mut() = uri;
            }
            request
        });
        Ok(Self { docker, host })
    }

    pub fn host(&self) -> &DockerHost {
        &self.host
    }

    /// The client, already speaking the agreed API version.
    pub(crate) fn client(&self) -> &Docker {
        &self.docker
    }

    pub async fn info(&self) -> Result<EngineInfo, Error> {
        let (version, info) = tokio::try_join!(self.docker.version(), self.docker.info())
            .map_err(|error| Error::engine(&self.host, self.docker.timeout(), error))?;
        Ok(EngineInfo {
            engine_version: version.version.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
            engine_min_api_version: version.min_api_version.unwrap_or_default(),
            engine_max_api_version: version.api_version.unwrap_or_default(),
            hostname: info.name.unwrap_or_default(),
            os: version.os.unwrap_or_default(),
            arch: version.arch.unwrap_or_default(),
            operating_system: info.operating_system.unwrap_or_default(),
            kernel_version: version.kernel_version.unwrap_or_default(),
            cpus: count(info.ncpu),
            memory_bytes: count(info.mem_total),
            containers: count(info.containers),
            containers_running: count(info.containers_running),
            images: count(info.images),
        })
    }
}

fn with_path_prefix(uri: &Uri, prefix: &str) -> Option<Uri> {
    let path = uri.path_and_query()?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(format!("{prefix}{path}").parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// The engine reports quantities as signed JSON numbers; none is negative.
fn count(value: Option<i64>) -> u64 {
    value.and_then(|n| u64::try_from(n).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_version_goes_in_front_of_the_path() {
        let uri: Uri = "unix://2f72756e/containers/json?all=true".parse().unwrap();
        assert_eq!(
            with_path_prefix(&uri, "/v1.41").unwrap(),
            "unix://2f72756e/v1.41/containers/json?all=true"
        );
    }
}
