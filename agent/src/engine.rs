//! The agent's connection to its Docker engine, through bollard, and the
//! facts about the engine and its host that the agent reports as its node's
//! inventory.

use std::{fmt, str::FromStr, time::Duration};

use bollard::{API_DEFAULT_VERSION, Docker};
use http::Uri;
use serde::Serialize;
use tracing::debug;

use crate::error::Error;

pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// The port the Docker CLI assumes for a plain-HTTP `tcp://HOST`, so that
/// the same DOCKER_HOST reaches the same engine from both.
const DEFAULT_TCP_PORT: u16 = 2375;

/// Where the Docker engine listens, parsed from `--docker-host`/`DOCKER_HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// Path of a local Unix socket.
    Unix(String),
    /// `HOST:PORT` of an engine speaking plain HTTP.
    Tcp(String),
}

impl DockerHost {
    /// What to check first when the engine does not answer at this address.
    pub fn unreachable_hint(&self) -> &'static str {
        match self {
            Self::Unix(_) => "Is dockerd running, and may this user use its socket (group docker)?",
            Self::Tcp(_) => {
                "Is dockerd listening on that address without TLS, and does no firewall block it?"
            }
        }
    }
}

impl FromStr for DockerHost {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        if let Some(path) = url.strip_prefix("unix://") {
            return match path {
                "" => Err(Error::UnsupportedDockerHost),
                path => Ok(Self::Unix(path.to_owned())),
            };
        }
        let address = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(Error::UnsupportedDockerHost)?
            .trim_end_matches('/');
        if address.is_empty() || address.contains('/') {
            return Err(Error::UnsupportedDockerHost);
        }
        // An IPv6 literal is bracketed, so a colon after the last `]` is the
        // only one that can start a port.
        let has_port = address
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.contains(']'));
        Ok(Self::Tcp(if has_port {
            address.to_owned()
        } else {
            format!("{address}:{DEFAULT_TCP_PORT}")
        }))
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{path}"),
            Self::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

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

    fn parse(url: &str) -> Result<DockerHost, Error> {
        url.parse()
    }

    #[test]
    fn the_api_version_goes_in_front_of_the_path() {
        let uri: Uri = "unix://2f72756e/containers/json?all=true".parse().unwrap();
        assert_eq!(
            with_path_prefix(&uri, "/v1.41").unwrap(),
            "unix://2f72756e/v1.41/containers/json?all=true"
        );
    }

    #[test]
    fn unix_sockets_keep_their_path() {
        let host = parse("unix:///var/run/docker.sock").unwrap();
        assert_eq!(host, DockerHost::Unix("/var/run/docker.sock".into()));
        assert_eq!(host.to_string(), DEFAULT_DOCKER_HOST);
    }

    #[test]
    fn tcp_and_http_name_the_same_engine() {
        for url in [
            "tcp://10.0.0.5:2376",
            "http://10.0.0.5:2376",
            "tcp://10.0.0.5:2376/",
        ] {
            assert_eq!(
                parse(url).unwrap(),
                DockerHost::Tcp("10.0.0.5:2376".into()),
                "{url}"
            );
        }
    }

    #[test]
    fn tcp_port_defaults_to_dockers() {
        assert_eq!(
            parse("tcp://docker.lan").unwrap().to_string(),
            "tcp://docker.lan:2375"
        );
        assert_eq!(parse("tcp://[::1]").unwrap().to_string(), "tcp://[::1]:2375");
        assert_eq!(parse("tcp://[::1]:1234").unwrap().to_string(), "tcp://[::1]:1234");
    }

    #[test]
    fn other_schemes_and_empty_addresses_are_refused() {
        for url in [
            "/var/run/docker.sock",
            "unix://",
            "tcp://",
            "https://10.0.0.5:2376",
            "ssh://me@host",
            "npipe:////./pipe/docker_engine",
            "tcp://host:2375/some/path",
        ] {
            assert!(
                matches!(parse(url), Err(Error::UnsupportedDockerHost)),
                "{url} was accepted"
            );
        }
    }
}
