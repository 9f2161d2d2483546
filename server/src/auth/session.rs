//! Console sessions (tower-sessions with its SQL store, so they survive a
//! restart) and the middleware that resolves every request's caller.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use shoal_proto::auth::Millis;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tower_sessions::{Expiry, Session, SessionManagerLayer, cookie::SameSite};
use tower_sessions_sqlx_store::SqliteStore;

use super::{Actor, ActorKind, Caller};
use crate::{error::AppError, ops::Ctx, store::now_millis};

pub const COOKIE_NAME: &str = "shoal_session";

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
    let idle = time::Duration::try_from(settings.idle_timeout).unwrap_or(time::Duration::HOUR);
    Ok(SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.secure_cookie)
        .with_expiry(Expiry::OnInactivity(idle)))
}

/// Resolves the caller from a bearer token or the session cookie and puts a
/// [`Caller`] into the request for every handler and server function.
pub async fn authenticate(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned());
    let actor = match bearer {
        Some(token) => crate::ops::tokens::authenticate(&ctx, &token).await.map(Some),
        None => session_actor(&ctx, &session).await,
    };
    match actor {
        Ok(actor) => {
            request.extensions_mut().insert(Caller {
                actor,
                source: Some(peer.ip()),
                session: Some(session),
            });
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

async fn session_actor(ctx: &Ctx, session: &Session) -> Result<Option<Actor>, AppError> {
    let Some(auth) = session.get::<SessionAuth>(SessionAuth::KEY).await? else {
        return Ok(None);
    };
    let lifetime = i64::try_from(ctx.sessions.max_lifetime.as_millis()).unwrap_or(i64::MAX);
    let fresh = now_millis().saturating_sub(auth.login_at) < lifetime;
    let user = ctx.store.user_by_id(&auth.user_id).await?;
    match user {
        Some(record) if fresh && !record.user.disabled && record.session_epoch == auth.epoch => {
            Ok(Some(Actor {
                kind: ActorKind::User,
                user_id: record.user.id.clone(),
                username: record.user.username.clone(),
                role: record.user.role,
                token_id: None,
                account: Some(record.user),
            }))
        }
        _ => {
            // Deleted, disabled, re-keyed or too old: the session ends now.
            session.flush().await?;
            Ok(None)
        }
    }
}
