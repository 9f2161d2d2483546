use std::{io, net::SocketAddr, path::PathBuf};

/// Why the server could not start. Each message names the setting to change.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "the data directory {path} is not usable: {source}. Choose a writable directory with --data-dir or SHOAL_DATA_DIR"
    )]
    DataDir { path: PathBuf, source: io::Error },

    #[error(
        "unsupported database URL {url}: only sqlite:// URLs are supported (set --database-url or SHOAL_DATABASE_URL)"
    )]
    UnsupportedDatabase { url: String },

    #[error("cannot open the database at {url}: {source}")]
    Database { url: String, source: sqlx::Error },

    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("cannot read or write the database: {0}")]
    Query(#[from] sqlx::Error),

    #[error(
        "cannot listen on {addr}: {source}. Is another server running there? Choose another address with --listen or SHOAL_LISTEN"
    )]
    Bind { addr: SocketAddr, source: io::Error },

    #[error("the server stopped with an I/O error: {0}")]
    Serve(io::Error),
}
