use std::{io, net::SocketAddr, path::PathBuf};

use crate::store::{OpenError, StoreError};

/// Why the server could not start. Each message names the setting to change.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "the data directory {path} is not usable: {source}. Choose a writable directory with --data-dir or SHOAL_DATA_DIR"
    )]
    DataDir { path: PathBuf, source: io::Error },

    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("cannot read or write the database: {}", chain(.0))]
    Query(#[from] StoreError),

    #[error(
        "cannot listen on {addr}: {source}. Is another server running there? Choose another address with --listen or SHOAL_LISTEN"
    )]
    Bind { addr: SocketAddr, source: io::Error },

    #[error(
        "cannot listen for agents on {addr}: {source}. Is another server running there? Choose another address with --agent-listen or SHOAL_AGENT_LISTEN"
    )]
    AgentBind { addr: SocketAddr, source: io::Error },

    #[error("the cluster CA is not usable: {0}")]
    Ca(#[from] crate::ca::CaError),

    #[error("cannot set up TLS for the agent gateway: {0}")]
    GatewayTls(#[from] rustls::Error),

    #[error("{0}")]
    Admin(String),

    #[error("the server stopped with an I/O error: {0}")]
    Serve(io::Error),
}

/// Why a request failed. Mapped to an HTTP status and a JSON body in
/// `http::error`, and to a server-function error in `console`; the message
/// is what the user reads, so it says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("log in first, or send an API token as `Authorization: Bearer <token>`")]
    Unauthenticated,
    #[error("{0}")]
    BadCredentials(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(#[from] shoal_proto::FieldError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{message}")]
    Throttled { message: String, retry_after_secs: u64 },
    #[error("the server is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The database failed; the error keeps its cause for the log.
    #[error("the database failed")]
    Database(#[source] sqlx::Error),
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { what } => Self::Conflict(format!("{what} exists already")),
            StoreError::Stale => Self::Conflict(
                "what this request changes was changed by someone else meanwhile; reload it and try again"
                    .into(),
            ),
            StoreError::NotFound { what } => Self::NotFound(format!("{what} does not exist")),
            StoreError::Db(source) => Self::Database(source),
        }
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(error: tower_sessions::session::Error) -> Self {
        Self::Internal(format!("session store: {error}"))
    }
}

impl AppError {
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::Unauthenticated | Self::BadCredentials(_) => S::UNAUTHORIZED,
            Self::Forbidden(_) => S::FORBIDDEN,
            Self::Invalid(_) | Self::BadRequest(_) => S::BAD_REQUEST,
            Self::NotFound(_) => S::NOT_FOUND,
            Self::Conflict(_) => S::CONFLICT,
            Self::TooLarge(_) => S::PAYLOAD_TOO_LARGE,
            Self::Throttled { .. } => S::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => S::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::Database(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::BadCredentials(_) => "bad_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::Invalid(_) => "invalid",
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "too_large",
            Self::Throttled { .. } => "throttled",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) | Self::Database(_) => "internal",
        }
    }

    /// What the client may see: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error; the server log has the details".to_owned()
            }
            Self::Database(_) => {
                tracing::error!(error = %chain(self), "internal error");
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// An error with every cause under it, for the log: "the database failed:
/// error returned from database: disk I/O error".
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
