//! The agent's one error type: each message names what failed and what the
//! user can do about it.

use std::{io, time::Duration};

use bollard::errors::Error as DockerError;

use crate::engine::DockerHost;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Only ever shown by clap, after the value it rejects.
    #[error("expected unix:///PATH or tcp://HOST:PORT (or http://HOST:PORT)")]
    UnsupportedDockerHost,

    #[error(
        "cannot reach the Docker engine at {host}: {cause}. {} \
         Set --docker-host or DOCKER_HOST to use another engine.",
        .host.unreachable_hint()
    )]
    EngineUnreachable { host: DockerHost, cause: String },

    #[error(
        "the Docker engine at {host} did not answer within {} s: it may be hung or overloaded. \
         Check dockerd (e.g. `systemctl status docker`), or wait longer with --docker-timeout.",
        .timeout.as_secs()
    )]
    EngineTimeout { host: DockerHost, timeout: Duration },

    #[error("the Docker engine at {host} refused the request (HTTP {status}): {message}")]
    EngineRefused {
        host: DockerHost,
        status: u16,
        message: String,
    },

    #[error("the Docker engine at {host} gave an answer shoal-agent does not understand: {cause}")]
    EngineAnswer { host: DockerHost, cause: String },

    #[error("cannot write to standard output: {0}")]
    Output(#[from] io::Error),
}

impl Error {
    /// Sorts a failed engine request by what the user should look at: the
    /// connection, the engine's health, or the engine's answer.
    pub fn engine(host: &DockerHost, timeout: Duration, error: DockerError) -> Self {
        let host = host.clone();
        match error {
            // bollard only says that the socket is missing; the OS also tells
            // apart a missing path from one this user may not look into.
            DockerError::SocketNotFoundError(path) => Self::EngineUnreachable {
                host,
                cause: std::fs::metadata(&path)
                    .err()
                    .map_or_else(|| "no socket there".to_owned(), |e| e.to_string()),
            },
            DockerError::RequestTimeoutError => Self::EngineTimeout { host, timeout },
            DockerError::DockerResponseServerError { status_code, message } => Self::EngineRefused {
                host,
                status: status_code,
                message,
            },
            DockerError::JsonDataError { .. }
            | DockerError::JsonSerdeError { .. }
            | DockerError::APIVersionParseError {} => Self::EngineAnswer {
                host,
                cause: error.to_string(),
            },
            connection => Self::EngineUnreachable {
                host,
                cause: root_cause(&connection),
            },
        }
    }
}

/// bollard's transport errors read "error in the hyper legacy client: client
/// error (Connect)"; the OS error at the bottom of the chain says what
/// actually went wrong ("Connection refused").
fn root_cause(error: &DockerError) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
