//! Managing a service's webhooks: create, change, rotate, delete, and the
//! record of their deliveries. The bearer secret is shown once and stored
//! as a digest; the signing secret is shown once too.

use serde_json::json;
use shoal_proto::webhook::{
    CreatedWebhook, Delivery, NewWebhook, Webhook, WebhookChange, check_pattern, check_webhook_name,
    default_pattern,
};

use super::{audit, services};
use crate::ctx::Ctx;
use crate::{
    auth::{Caller, secret},
    error::AppError,
    store::{NewWebhookRow, StoreError, WebhookRecord, now_millis},
};

/// Deliveries a webhook's page lists.
const DELIVERIES_SHOWN: i64 = 100;

pub async fn list(ctx: &Ctx, service: &str) -> Result<Vec<Webhook>, AppError> {
    let service = services::find(ctx, service).await?;
    Ok(ctx.store.webhooks_of_service(&service.id).await?)
}

pub async fn get(ctx: &Ctx, id: &str) -> Result<Webhook, AppError> {
    Ok(find(ctx, id).await?.webhook)
}

pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    service: &str,
    new: NewWebhook,
) -> Result<CreatedWebhook, AppError> {
    let service = services::find(ctx, service).await?;
    let name = check_webhook_name(&new.name)?;
    let allow = match new.allow.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(pattern) => check_pattern(pattern, &service.spec.image)?,
        None => default_pattern(&service.spec.image),
    };
    let id = secret::new_id();
    let raw = secret::generate();
    let signing = new.signed.then(secret::generate);
    let record = ctx
        .store
        .insert_webhook(NewWebhookRow {
            id: &id,
            service_id: &service.id,
            name: &name,
            secret_hash: &secret::digest(&raw),
            signing_secret: signing.as_deref(),
            allow: &allow,
            created_by: &caller.name(),
            created_at: now_millis(),
        })
        .await
        .map_err(|error| match error {
            StoreError::Conflict { .. } => name_taken(&name, &service.name),
            other => other.into(),
        })?;
    audit::record(
        ctx,
        caller,
        "webhook.create",
        Some(&id),
        json!({ "service": service.name, "name": name, "allow": allow, "signed": new.signed }),
    )
    .await;
    Ok(CreatedWebhook {
        webhook: record.webhook,
        secret: raw,
        signing_secret: signing,
    })
}

pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    change: WebhookChange,
) -> Result<Webhook, AppError> {
    let current = find(ctx, id).await?.webhook;
    let name = match &change.name {
        Some(name) => check_webhook_name(name)?,
        None => current.name.clone(),
    };
    let allow = match &change.allow {
        Some(pattern) => {
            let service = services::find(ctx, &current.service_id).await?;
            check_pattern(pattern, &service.spec.image)?
        }
        None => current.allow.clone(),
    };
    let enabled = change.enabled.unwrap_or(current.enabled);
    ctx.store
        .update_webhook(id, &name, &allow, enabled)
        .await
        .map_err(|error| match error {
            StoreError::Conflict { .. } => name_taken(&name, "this service"),
            other => other.into(),
        })?;
    audit::record(
        ctx,
        caller,
        "webhook.update",
        Some(id),
        json!({ "name": name, "allow": allow, "enabled": enabled }),
    )
    .await;
    get(ctx, id).await
}

/// New secrets (and a new signing secret for a signed webhook); the old ones
/// stop working at once.
pub async fn rotate(ctx: &Ctx, caller: &Caller, id: &str) -> Result<CreatedWebhook, AppError> {
    let current = find(ctx, id).await?;
    let raw = secret::generate();
    let signing = current.signing_secret.is_some().then(secret::generate);
    ctx.store
        .set_webhook_secrets(id, &secret::digest(&raw), signing.as_deref())
        .await?;
    audit::record(
        ctx,
        caller,
        "webhook.rotate",
        Some(id),
        json!({ "name": current.webhook.name }),
    )
    .await;
    Ok(CreatedWebhook {
        webhook: current.webhook,
        secret: raw,
        signing_secret: signing,
    })
}

pub async fn delete(ctx: &Ctx, caller: &Caller, id: &str) -> Result<(), AppError> {
    let current = find(ctx, id).await?;
    if !ctx.store.delete_webhook(id).await? {
        return Err(not_found(id));
    }
    audit::record(
        ctx,
        caller,
        "webhook.delete",
        Some(id),
        json!({ "name": current.webhook.name }),
    )
    .await;
    Ok(())
}

/// Newest first.
pub async fn deliveries(ctx: &Ctx, id: &str) -> Result<Vec<Delivery>, AppError> {
    find(ctx, id).await?;
    Ok(ctx.store.deliveries(id, DELIVERIES_SHOWN).await?)
}

async fn find(ctx: &Ctx, id: &str) -> Result<WebhookRecord, AppError> {
    ctx.store.webhook(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!("no webhook {id:?}"))
}

fn name_taken(name: &str, service: &str) -> AppError {
    AppError::Conflict(format!(
        "{service} has a webhook named {name:?} already; choose another name"
    ))
}
