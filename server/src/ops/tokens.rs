//! API tokens for automation. The secret a client sends is
//! `shoal_<token id>_<secret>`: the id finds the row, the secret is checked
//! against its digest.

use serde_json::json;
use shoal_proto::{
    FieldError,
    auth::{ApiToken, CreatedApiToken, NewApiToken, TOKEN_MAX_DAYS, check_token_name},
};

use super::audit;
use crate::ctx::Ctx;
use crate::{
    auth::{Caller, secret},
    error::AppError,
    store::{NewTokenRow, now_millis},
};

const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

pub async fn list_own(ctx: &Ctx, caller: &Caller) -> Result<Vec<ApiToken>, AppError> {
    Ok(ctx.store.tokens_of_user(&caller.actor()?.user_id).await?)
}

pub async fn create(ctx: &Ctx, caller: &Caller, new: NewApiToken) -> Result<CreatedApiToken, AppError> {
    let actor = caller.actor()?;
    let name = check_token_name(&new.name)?;
    if new.role > actor.role {
        return Err(AppError::Forbidden(format!(
            "a token cannot have more power than its creator: choose {} or lower",
            actor.role
        )));
    }
    let expires_at = match new.expires_in_days {
        None => None,
        Some(days) if (1..=TOKEN_MAX_DAYS).contains(&days) => {
            Some(now_millis() + i64::from(days) * DAY_MILLIS)
        }
        Some(_) => {
            return Err(FieldError::new(
                "expires_in_days",
                format!("choose between 1 and {TOKEN_MAX_DAYS} days, or leave it out for no expiry"),
            )
            .into());
        }
    };
    check_outlives_no_creator(ctx, actor.token_id.as_deref(), expires_at).await?;
    let id = secret::new_id();
    let raw = secret::generate();
    let record = ctx
        .store
        .insert_token(NewTokenRow {
            id: &id,
            user_id: &actor.user_id,
            name: &name,
            role: new.role,
            secret_hash: &secret::digest(&raw),
            expires_at,
        })
        .await?;
    audit::record(
        ctx,
        caller,
        "token.create",
        Some(&id),
        json!({ "name": name, "role": new.role }),
    )
    .await;
    Ok(CreatedApiToken {
        token: record.token,
        secret: secret::token_string(&id, &raw),
    })
}

pub async fn revoke_own(ctx: &Ctx, caller: &Caller, id: &str) -> Result<(), AppError> {
    let actor = caller.actor()?;
    match ctx.store.token_by_id(id).await? {
        Some(record) if record.user_id == actor.user_id => {
            ctx.store.revoke_token(id).await?;
            audit::record(
                ctx,
                caller,
                "token.revoke",
                Some(id),
                json!({ "name": record.token.name }),
            )
            .await;
            Ok(())
        }
        _ => Err(AppError::NotFound(format!("you have no token with id {id}"))),
    }
}

/// A token made with a token ends no later than the one that made it, so a
/// leaked short-lived token cannot be turned into a lasting one.
async fn check_outlives_no_creator(
    ctx: &Ctx,
    creator: Option<&str>,
    expires_at: Option<i64>,
) -> Result<(), AppError> {
    let Some(creator) = creator else {
        return Ok(());
    };
    let limit = ctx
        .store
        .token_by_id(creator)
        .await?
        .and_then(|record| record.token.expires_at);
    match (limit, expires_at) {
        (None, _) => Ok(()),
        (Some(limit), Some(at)) if at <= limit => Ok(()),
        (Some(limit), _) => {
            let days_left = (limit - now_millis()) / DAY_MILLIS;
            Err(FieldError::new(
                "expires_in_days",
                format!(
                    "a token cannot make a token that outlives it: this one expires in {days_left} day(s); \
                     choose fewer days, or create the token from a logged-in session"
                ),
            )
            .into())
        }
    }
}
