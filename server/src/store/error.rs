//! Why the store could not do what was asked, in terms its callers can act
//! on: a name already taken, a row that changed since it was read, a row
//! that is not there, or the database itself failing (with its error kept
//! for the log); and why the database could not be opened.

/// What the store's functions return when they fail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists; `what` names it for the user
    /// ("a service named \"web\"").
    #[error("{what} exists already")]
    Conflict { what: String },
    /// The row changed since the caller read it.
    #[error("it changed meanwhile")]
    Stale,
    #[error("{what} does not exist")]
    NotFound { what: String },
    #[error("the database failed")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// For an insert whose unique key may be taken: a unique violation
    /// becomes a [`StoreError::Conflict`] naming `what`.
    pub(super) fn unique(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> Self {
        move |error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict { what: what() },
            _ => Self::Db(error),
        }
    }
}

/// Why the database could not be opened. Each message names the setting
/// to change.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "unsupported database URL {url}: only sqlite:// URLs are supported (set --database-url or SHOAL_DATABASE_URL)"
    )]
    UnsupportedDatabase { url: String },

    #[error("cannot open the database at {url}: {source}")]
    Database { url: String, source: sqlx::Error },

    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
