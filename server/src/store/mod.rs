//! The store: every read and write of the cluster state goes through here.
//! Queries use `$N` placeholders and portable SQL so that the PostgreSQL
//! backend can share this code path.

mod audit;
mod cluster_events;
mod error;
mod join_tokens;
mod networks;
mod nodes;
mod rollouts;
mod services;
mod setup;
mod tasks;
mod tokens;
mod users;
mod webhooks;

use std::{path::Path, str::FromStr};

use crate::private_files;

pub use audit::NewAuditEntry;
pub use cluster_events::{CLUSTER_EVENTS_KEPT, NewClusterEvent};
pub use error::{OpenError, StoreError};
pub use join_tokens::JoinTokenRow;
pub use nodes::{NewNodeRow, NodeRecord, RemovedNode};
pub use rollouts::RolloutMove;
pub use services::{RevisionRecord, ServiceRecord};
pub use tasks::{TaskQuery, TaskRecord, TaskWrite};
pub use tokens::{NewTokenRow, TokenRecord};
pub use users::UserRecord;
pub use webhooks::{NewWebhookRow, Settled, WebhookRecord};

use sqlx::{
    AnyPool,
    any::{AnyPoolOptions, install_default_drivers},
    sqlite::SqliteConnectOptions,
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
}

impl DatabaseKind {
    fn from_url(url: &str) -> Result<Self, OpenError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(OpenError::UnsupportedDatabase { url: url.to_owned() })
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
        }
    }
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(error))
}

/// Counts as the database stores them; no count Shoal keeps comes near the limit.
fn as_bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Now, as the store records times: Unix milliseconds.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    kind: DatabaseKind,
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        install_default_drivers();
        let kind = DatabaseKind::from_url(url)?;
        let open_error = |source| OpenError::Database {
            url: url.to_owned(),
            source,
        };
        match kind {
            DatabaseKind::Sqlite => ensure_sqlite_file(url).await.map_err(open_error)?,
        }
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .connect(url)
            .await
            .map_err(open_error)?;
        match kind {
            DatabaseKind::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self { pool, kind })
    }

    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)?)
    }

    /// The cluster's id, chosen once when the database is first created.
    pub async fn cluster_id(&self) -> Result<String, StoreError> {
        let fresh = new_cluster_id();
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ('cluster_id', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(fresh)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'cluster_id'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The row `sql` selects with `key` bound to `$1`, decoded by `decode`.
    async fn find_one<T>(
        &self,
        sql: &str,
        key: &str,
        decode: fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>, StoreError> {
        Ok(sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(decode)
            .transpose()?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The generic `Any` driver cannot pass SQLite's create-if-missing flag, so
/// the file is created first: by us, readable by this user only (SQLite
/// gives its WAL files the database's mode), then through the SQLite driver.
async fn ensure_sqlite_file(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::{ConnectOptions, Connection};
    let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
    let path = Path::new(options.get_filename());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private_files::create_dir(parent).map_err(sqlx::Error::Io)?;
    }
    private_files::create_file(path).map_err(sqlx::Error::Io)?;
    private_files::warn_if_exposed(path, "the database");
    let mut connection = options.connect().await?;
    // WAL lets the session store's pool and this one read while the other writes.
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut connection)
        .await?;
    connection.close().await
}

fn new_cluster_id() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cluster_id_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shoal.db").display());
        let first = Store::open(&url).await.unwrap().cluster_id().await.unwrap();
        let reopened = Store::open(&url).await.unwrap();
        assert_eq!(reopened.cluster_id().await.unwrap(), first);
        assert_eq!(first.len(), 24);
    }

    #[test]
    fn only_sqlite_urls_are_accepted_for_now() {
        assert!(DatabaseKind::from_url("sqlite://x.db").is_ok());
        let error = DatabaseKind::from_url("mysql://db").unwrap_err().to_string();
        assert!(error.contains("only sqlite://"), "{error}");
    }
}
