//! The agent's one error type: each message names what failed and what the
//! user can do about it.

use std::{io, net::SocketAddr, path::PathBuf, time::Duration};

use bollard::errors::Error as DockerError;

use crate::docker_host::DockerHost;

#[derive(Debug, thiserror::Error)]
pub enum Error {
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

    /// An error the engine reported in the middle of a streamed answer, such
    /// as a failed image pull.
    #[error("the Docker engine at {host} reported: {message}")]
    EngineFailed { host: DockerHost, message: String },

    #[error("the Docker engine at {host} gave an answer shoal-agent does not understand: {cause}")]
    EngineAnswer { host: DockerHost, cause: String },

    #[error("cannot write to standard output: {0}")]
    Output(#[from] io::Error),

    #[error("cannot use the data directory {path}: {source}. Choose another with --data-dir")]
    DataDir { path: PathBuf, source: io::Error },

    #[error(
        "{} already holds the identity of node {node_id}: start it with `shoal-agent run --data-dir {}`, \
         or join as another node with another --data-dir",
        .dir.display(), .dir.display()
    )]
    AlreadyJoined { dir: PathBuf, node_id: String },

    #[error(
        "{} holds no node identity: join a cluster first with \
         `shoal-agent join --token TOKEN SERVER --data-dir {}`",
        .dir.display(), .dir.display()
    )]
    NotJoined { dir: PathBuf },

    #[error(
        "the node identity in {} is damaged ({reason}); restore the directory from a backup, \
         or remove it and join again",
        .dir.display()
    )]
    Identity { dir: PathBuf, reason: String },

    #[error(
        "cannot reach the Shoal server at {server}: {cause}. Is shoal-server running, and is its agent port \
         (--agent-listen) reachable from this host?"
    )]
    Connect { server: String, cause: String },

    #[error(
        "the server at {server} presented a CA certificate with digest {found}, but the join token expects \
         {expected}: possible man-in-the-middle, or the token belongs to another cluster. Not joining; \
         check the address and copy the join command again from the console"
    )]
    CaMismatch {
        server: String,
        expected: String,
        found: String,
    },

    #[error("the server at {server} refused: {message}")]
    Refused { server: String, message: String },

    #[error("the server at {server} answered something unexpected: {cause}")]
    Protocol { server: String, cause: String },

    #[error("cannot tell this node's hostname: {0}")]
    Hostname(String),

    #[error("cannot make the node's key or certificate request: {0}")]
    Crypto(String),

    #[error("cannot serve metrics on {addr}: {source}. Choose another address with --metrics-listen")]
    MetricsListen { addr: SocketAddr, source: io::Error },
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
            DockerError::DockerStreamError { error } => Self::EngineFailed { host, message: error },
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

    /// What a task report quotes: the engine's own words when it refused,
    /// which name the problem (a taken port, an unknown image) without this
    /// agent's framing; the whole message when the engine could not be asked.
    pub fn engine_message(&self) -> String {
        match self {
            Self::EngineRefused { message, .. } | Self::EngineFailed { message, .. } => message.clone(),
            other => other.to_string(),
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
