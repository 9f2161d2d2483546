use serde_json::json;
use shoal_proto::auth::{NewUser, Role, User, UserChange, Username, check_new_password};

use super::audit;
use crate::ctx::Ctx;
use crate::{
    auth::{Caller, password, secret},
    error::AppError,
    store::UserRecord,
};

pub async fn list(ctx: &Ctx) -> Result<Vec<User>, AppError> {
    Ok(ctx.store.list_users().await?)
}

pub async fn create(ctx: &Ctx, caller: &Caller, new: NewUser) -> Result<User, AppError> {
    let record = insert(ctx, &new.username, new.password, new.role).await?;
    audit::record(
        ctx,
        caller,
        "user.create",
        Some(&record.user.id),
        json!({ "username": record.user.username, "role": record.user.role }),
    )
    .await;
    Ok(record.user)
}

/// Validates and stores a new user; shared by the API, first-admin setup and
/// the `admin create` command.
pub async fn insert(ctx: &Ctx, username: &str, password: String, role: Role) -> Result<UserRecord, AppError> {
    let username = Username::parse(username)?;
    check_new_password(&password)?;
    if ctx.store.user_by_name(username.as_str()).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "a user named {username} already exists"
        )));
    }
    let hash = password::hash(password).await?;
    Ok(ctx
        .store
        .insert_user(&secret::new_id(), username.as_str(), &hash, role)
        .await?)
}

pub async fn update(ctx: &Ctx, caller: &Caller, id: &str, change: UserChange) -> Result<User, AppError> {
    let record = find(ctx, id).await?;
    let user = &record.user;
    let mut changed = serde_json::Map::new();
    if let Some(role) = change.role
        && role != user.role
    {
        if user.role == Role::Admin {
            keep_an_admin(ctx, user, "demoted").await?;
        }
        ctx.store.set_user_role(id, role).await?;
        changed.insert("role".into(), json!({ "from": user.role, "to": role }));
    }
    if let Some(disabled) = change.disabled
        && disabled != user.disabled
    {
        if disabled && user.role == Role::Admin {
            keep_an_admin(ctx, user, "disabled").await?;
        }
        ctx.store.set_user_disabled(id, disabled).await?;
        changed.insert("disabled".into(), json!(disabled));
    }
    if let Some(new_password) = change.password {
        check_new_password(&new_password)?;
        let hash = password::hash(new_password).await?;
        ctx.store.set_user_password(id, &hash).await?;
        changed.insert("password".into(), json!("reset"));
    }
    if !changed.is_empty() {
        changed.insert("username".into(), json!(user.username));
        audit::record(ctx, caller, "user.update", Some(id), changed.into()).await;
    }
    Ok(find(ctx, id).await?.user)
}

pub async fn delete(ctx: &Ctx, caller: &Caller, id: &str) -> Result<(), AppError> {
    let record = find(ctx, id).await?;
    if caller.actor.as_ref().is_some_and(|actor| actor.user_id == id) {
        return Err(AppError::Conflict(
            "you cannot delete your own account; ask another admin".into(),
        ));
    }
    if record.user.role == Role::Admin {
        keep_an_admin(ctx, &record.user, "deleted").await?;
    }
    ctx.store.delete_user(id).await?;
    audit::record(
        ctx,
        caller,
        "user.delete",
        Some(id),
        json!({ "username": record.user.username }),
    )
    .await;
    Ok(())
}

async fn find(ctx: &Ctx, id: &str) -> Result<UserRecord, AppError> {
    ctx.store
        .user_by_id(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {id}")))
}

/// The cluster must keep one active admin, or nobody could manage users again.
async fn keep_an_admin(ctx: &Ctx, user: &User, what: &str) -> Result<(), AppError> {
    if ctx.store.other_active_admins(&user.id).await? == 0 {
        return Err(AppError::Conflict(format!(
            "{} is the last active admin and cannot be {what}; make another user admin first",
            user.username
        )));
    }
    Ok(())
}
