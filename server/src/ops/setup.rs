//! The first admin: a one-time link printed at start while no user exists,
//! or `shoal-server admin create` from a shell on the server.

use serde_json::json;
use shoal_proto::auth::{Me, Role};

use super::{audit, session, users};
use crate::ctx::Ctx;
use crate::{
    auth::{Caller, secret},
    error::AppError,
    store::{UserRecord, now_millis},
};

const LINK_LIFETIME_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// A fresh setup token when the cluster has no user yet; each start replaces
/// the previous link.
pub async fn issue_link_token(ctx: &Ctx) -> Result<Option<String>, AppError> {
    if ctx.store.user_count().await? > 0 {
        return Ok(None);
    }
    let token = secret::generate();
    ctx.store
        .replace_setup_token(&secret::digest(&token), now_millis() + LINK_LIFETIME_MILLIS)
        .await?;
    Ok(Some(token))
}

pub async fn link_token_valid(ctx: &Ctx, token: &str) -> Result<bool, AppError> {
    Ok(ctx.store.user_count().await? == 0
        && ctx
            .store
            .setup_token_usable(&secret::digest(token), now_millis())
            .await?)
}

pub async fn create_first_admin(
    ctx: &Ctx,
    caller: &Caller,
    token: &str,
    username: &str,
    password: String,
) -> Result<Me, AppError> {
    let expired = || {
        AppError::Forbidden(
            "this setup link has expired or was already used; restart the server to get a new one \
             (while no user exists) or run `shoal-server admin create`"
                .into(),
        )
    };
    if !link_token_valid(ctx, token).await? {
        return Err(expired());
    }
    // Validate before consuming, so a typo does not burn the link.
    shoal_proto::auth::Username::parse(username)?;
    shoal_proto::auth::check_new_password(&password)?;
    if !ctx
        .store
        .consume_setup_token(&secret::digest(token), now_millis())
        .await?
    {
        return Err(expired());
    }
    let record = users::insert(ctx, username, password, Role::Admin).await?;
    audit::record(
        ctx,
        caller,
        "setup.first_admin",
        Some(&record.user.id),
        json!({ "username": record.user.username }),
    )
    .await;
    session::start_session(ctx, caller, &record).await?;
    Ok(session::me_of(record, "session"))
}

/// `shoal-server admin create`: works whether or not users exist.
pub async fn create_admin_from_cli(
    ctx: &Ctx,
    username: &str,
    password: String,
) -> Result<UserRecord, AppError> {
    let record = users::insert(ctx, username, password, Role::Admin).await?;
    audit::record(
        ctx,
        &Caller::system(),
        "user.create",
        Some(&record.user.id),
        json!({ "username": record.user.username, "role": "admin", "via": "shoal-server admin create" }),
    )
    .await;
    Ok(record)
}
