//! Who is calling: every request's caller, resolved from a bearer token
//! (an API token) or the session cookie, put into the request as a
//! [`Caller`] for every handler and server function.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_sessions::Session;

use crate::{
    auth::{Actor, ActorKind, Caller, proxy::client_address, secret, session::SessionAuth},
    ctx::Ctx,
    error::AppError,
    store::now_millis,
};

pub async fn caller(
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
        Some(token) => token_actor(&ctx, &token).await.map(Some),
        None => session_actor(&ctx, &session).await,
    };
    match actor {
        Ok(actor) => {
            let forwarded = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok());
            let source = client_address(peer.ip(), forwarded, &ctx.trusted_proxies);
            request.extensions_mut().insert(Caller {
                actor,
                source: Some(source),
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

/// Resolves a bearer token to the actor it stands for, or says why not.
async fn token_actor(ctx: &Ctx, bearer: &str) -> Result<Actor, AppError> {
    let invalid = || AppError::BadCredentials("the API token is invalid, expired or revoked".into());
    let (id, raw) = secret::parse_token(bearer).ok_or_else(invalid)?;
    let record = ctx.store.token_by_id(id).await?.ok_or_else(invalid)?;
    let now = now_millis();
    let usable = secret::matches(raw, &record.secret_hash)
        && !record.token.revoked
        && record.token.expires_at.is_none_or(|at| at > now);
    if !usable {
        return Err(invalid());
    }
    let user = ctx
        .store
        .user_by_id(&record.user_id)
        .await?
        .ok_or_else(invalid)?
        .user;
    if user.disabled {
        return Err(AppError::BadCredentials(
            "the API token's user is disabled".into(),
        ));
    }
    ctx.store.touch_token(id, now).await?;
    Ok(Actor {
        kind: ActorKind::ApiToken,
        user_id: user.id.clone(),
        username: user.username.clone(),
        role: record.token.role.min(user.role),
        token_id: Some(record.token.id),
        account: Some(user),
    })
}

/// Whether the caller that opened a long-lived request (the event stream)
/// still stands: the session not logged out, the user not deleted, disabled,
/// re-keyed or given another role; the token not revoked or expired.
pub async fn still_valid(ctx: &Ctx, caller: &Caller) -> bool {
    let Some(actor) = &caller.actor else {
        return false;
    };
    let Ok(Some(user)) = ctx.store.user_by_id(&actor.user_id).await else {
        return false;
    };
    if user.user.disabled || user.user.role < actor.role {
        return false;
    }
    match actor.kind {
        ActorKind::ApiToken => {
            let Some(token_id) = &actor.token_id else {
                return false;
            };
            let now = now_millis();
            matches!(
                ctx.store.token_by_id(token_id).await,
                Ok(Some(record)) if !record.token.revoked && record.token.expires_at.is_none_or(|at| at > now)
            )
        }
        ActorKind::User => {
            let Some(session) = &caller.session else {
                return false;
            };
            let Some(id) = session.id() else {
                return false;
            };
            let epoch = session
                .get::<SessionAuth>(SessionAuth::KEY)
                .await
                .ok()
                .flatten()
                .map(|auth| auth.epoch);
            epoch == Some(user.session_epoch)
                && user.user.role == actor.role
                && matches!(ctx.store.session_exists(&id.to_string()).await, Ok(true))
        }
        _ => false,
    }
}
