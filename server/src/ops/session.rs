use std::time::Instant;

use serde_json::json;
use shoal_proto::auth::{LoginRequest, Me, PASSWORD_MAX, USERNAME_MAX, Username};

use super::audit;
use crate::ctx::Ctx;
use crate::{
    auth::{Caller, password, session::SessionAuth, throttle::Verdict},
    error::AppError,
    store::{UserRecord, now_millis},
};

const WRONG_CREDENTIALS: &str = "wrong username or password";

pub async fn login(ctx: &Ctx, caller: &Caller, request: LoginRequest) -> Result<Me, AppError> {
    caller.session()?;
    if request.username.trim().is_empty() || request.password.is_empty() {
        return Err(AppError::BadRequest("enter a username and a password".into()));
    }
    // Bounded before any use: the throttle's table, the audit log and the
    // password hash all take these.
    if request.username.trim().chars().count() > USERNAME_MAX {
        return Err(AppError::BadRequest(format!(
            "a username has at most {USERNAME_MAX} characters"
        )));
    }
    if request.password.len() > PASSWORD_MAX {
        return Err(AppError::BadRequest(format!(
            "a password has at most {PASSWORD_MAX} bytes"
        )));
    }
    let name = request.username.trim().to_ascii_lowercase();
    let keys = throttle_keys(&name, caller);
    let now = Instant::now();
    let refusal = match ctx.throttle.attempt(&keys, now) {
        Verdict::Allowed => None,
        Verdict::Locked(wait) => Some((
            format!(
                "too many failed logins: locked, try again in {}",
                humantime::format_duration(round_secs(wait))
            ),
            wait,
        )),
        Verdict::SlowDown(wait) => Some((
            format!(
                "too many failed logins: wait {} s before trying again",
                round_secs(wait).as_secs()
            ),
            wait,
        )),
    };
    if let Some((message, wait)) = refusal {
        if ctx.throttle.report_refusal(&keys, now) {
            audit::record(
                ctx,
                caller,
                "session.login_refused",
                Some(&name),
                json!({ "reason": message }),
            )
            .await;
        }
        return Err(AppError::Throttled {
            message,
            retry_after_secs: round_secs(wait).as_secs(),
        });
    }

    let record = match Username::parse(&name) {
        Ok(username) => ctx.store.user_by_name(username.as_str()).await?,
        Err(_) => None,
    };
    let matches =
        password::verify(request.password, record.as_ref().map(|r| r.password_hash.clone())).await?;
    let record = match record {
        Some(record) if matches && !record.user.disabled => record,
        other => {
            let reason = match other {
                Some(record) if matches && record.user.disabled => "account disabled",
                Some(_) => "wrong password",
                None => "unknown user",
            };
            audit::record(
                ctx,
                caller,
                "session.login_failed",
                Some(&name),
                json!({ "reason": reason }),
            )
            .await;
            return Err(AppError::BadCredentials(if reason == "account disabled" {
                "this account is disabled; ask an admin to enable it".into()
            } else {
                WRONG_CREDENTIALS.into()
            }));
        }
    };
    ctx.throttle.record_success(&keys);
    start_session(ctx, caller, &record).await?;
    audit::record(
        ctx,
        caller,
        "session.login",
        Some(&record.user.id),
        json!({ "username": record.user.username }),
    )
    .await;
    Ok(me_of(record, "session"))
}

/// Puts the user into the caller's session under a fresh session id, so an
/// id planted before login is worth nothing after it.
pub async fn start_session(ctx: &Ctx, caller: &Caller, record: &UserRecord) -> Result<(), AppError> {
    let session = caller.session()?;
    let now = now_millis();
    session.cycle_id().await?;
    session
        .insert(
            SessionAuth::KEY,
            SessionAuth {
                user_id: record.user.id.clone(),
                epoch: record.session_epoch,
                login_at: now,
            },
        )
        .await?;
    ctx.store.touch_user_login(&record.user.id, now).await?;
    Ok(())
}

pub async fn logout(ctx: &Ctx, caller: &Caller) -> Result<(), AppError> {
    let session = caller.session()?;
    session.flush().await?;
    if let Some(actor) = &caller.actor {
        audit::record(ctx, caller, "session.logout", Some(&actor.user_id), json!({})).await;
    }
    Ok(())
}

/// The caller's account and role in effect, as authentication loaded them.
pub fn me(caller: &Caller) -> Result<Option<Me>, AppError> {
    let Some(actor) = &caller.actor else {
        return Ok(None);
    };
    let user = actor.account.clone().ok_or(AppError::Unauthenticated)?;
    let via = if actor.token_id.is_some() {
        "api_token"
    } else {
        "session"
    };
    Ok(Some(Me {
        role: actor.role,
        user,
        via: via.to_owned(),
    }))
}

pub fn me_of(record: UserRecord, via: &str) -> Me {
    Me {
        role: record.user.role,
        user: record.user,
        via: via.to_owned(),
    }
}

/// Failures count per account and address together, and per address: an
/// attacker elsewhere cannot lock a user out, and one address cannot try
/// many accounts.
fn throttle_keys(username: &str, caller: &Caller) -> Vec<String> {
    match caller.source {
        Some(ip) => vec![format!("user:{username}@{ip}"), format!("ip:{ip}")],
        None => vec![format!("user:{username}")],
    }
}

fn round_secs(wait: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}
