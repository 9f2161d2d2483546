//! Where the Docker engine listens, as `--docker-host`/`DOCKER_HOST` name it.
//! A module of its own below both `engine` and `error`: the engine connects
//! to a host and errors name one, so neither may own it without the other
//! importing back.

use std::{fmt, str::FromStr};

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
    type Err = UnsupportedDockerHost;

    fn from_str(url: &str) -> Result<Self, UnsupportedDockerHost> {
        if let Some(path) = url.strip_prefix("unix://") {
            return match path {
                "" => Err(UnsupportedDockerHost),
                path => Ok(Self::Unix(path.to_owned())),
            };
        }
        let address = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(UnsupportedDockerHost)?
            .trim_end_matches('/');
        if address.is_empty() || address.contains('/') {
            return Err(UnsupportedDockerHost);
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

/// Why a `--docker-host` value was refused; clap shows it after the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected unix:///PATH or tcp://HOST:PORT (or http://HOST:PORT)")]
pub struct UnsupportedDockerHost;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<DockerHost, UnsupportedDockerHost> {
        url.parse()
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
                matches!(parse(url), Err(UnsupportedDockerHost)),
                "{url} was accepted"
            );
        }
    }
}
