//! Console sessions: tower-sessions with its SQL store, so they survive a
//! restart, and what a logged-in session holds.

use std::{str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};
use shoal_proto::Millis;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite, session_store::ExpiredDeletion};
use tower_sessions_sqlx_store::SqliteStore;

pub const COOKIE_NAME: &str = "shoal_session";

const EXPIRED_SWEEP: Duration = Duration::from_secs(60 * 60);

#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after login, however busy.
    pub max_lifetime: Duration,
    /// Mark the cookie Secure (set when the console is served over HTTPS).
    pub secure_cookie: bool,
}

/// What a logged-in session holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionAuth {
    pub user_id: String,
    /// The user's session epoch at login; a reset password or a disabled
    /// account bumps it and so ends this session.
    pub epoch: i64,
    pub login_at: Millis,
}

impl SessionAuth {
    pub const KEY: &'static str = "auth";
}

pub async fn layer(
    database_url: &str,
    settings: SessionSettings,
) -> Result<SessionManagerLayer<SqliteStore>, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(database_url)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    let store = SqliteStore::new(pool);
    store.migrate().await?;
    // Expired sessions are deleted at start and every hour, so the table
    // holds only sessions that can still be used.
    if let Err(error) = store.delete_expired().await {
        tracing::warn!(%error, "cannot delete expired sessions");
    }
    tokio::spawn(store.clone().continuously_delete_expired(EXPIRED_SWEEP));
    let idle = time::Duration::try_from(settings.idle_timeout).unwrap_or(time::Duration::HOUR);
    Ok(SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.secure_cookie)
        .with_expiry(Expiry::OnInactivity(idle)))
}
