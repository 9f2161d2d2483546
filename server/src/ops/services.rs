//! Services: create, change (each change a new revision), scale, delete, and
//! the revision history. The orchestrator does the running; these record
//! what is wanted, audit it and wake the orchestrator.

use serde_json::json;
use shoal_proto::{
    FieldError,
    service::{
        MASKED_PASSWORD, Mode, PublishMode, Revision, RevisionDiff, Rollout, Service, ServiceSpec, diff,
    },
    webhook::ImageRef,
};

use super::{
    audit, networks,
    revise::{Cause, new_revision},
};
use crate::{
    auth::{Caller, secret::new_id},
    changes::Changes,
    ctx::Ctx,
    error::AppError,
    store::{ServiceRecord, StoreError, now_millis},
    views,
};

pub async fn list(ctx: &Ctx) -> Result<Vec<Service>, AppError> {
    let mut services = Vec::new();
    for record in ctx.store.list_services().await? {
        let tasks = ctx.store.tasks_of_service(&record.id).await?;
        services.push(views::service(ctx, record, &tasks).await?);
    }
    Ok(services)
}

/// By id or by name.
pub async fn get(ctx: &Ctx, id_or_name: &str) -> Result<Service, AppError> {
    let record = find(ctx, id_or_name).await?;
    let tasks = ctx.store.tasks_of_service(&record.id).await?;
    views::service(ctx, record, &tasks).await
}

pub async fn find(ctx: &Ctx, id_or_name: &str) -> Result<ServiceRecord, AppError> {
    ctx.store
        .find_service(id_or_name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no service {id_or_name:?}")))
}

pub async fn create(ctx: &Ctx, caller: &Caller, spec: ServiceSpec) -> Result<Service, AppError> {
    spec.validate()?;
    if ctx.store.find_service(&spec.name).await?.is_some() {
        return Err(name_taken(&spec.name));
    }
    check_ports_free(ctx, None, &spec).await?;
    networks::check_exist(ctx, &spec.networks).await?;
    let id = new_id();
    let now = now_millis();
    ctx.store
        .insert_service(&id, &spec, &caller.name(), now)
        .await
        // Two creations racing past the check above.
        .map_err(|error| match error {
            StoreError::Conflict { .. } => name_taken(&spec.name),
            other => other.into(),
        })?;
    audit::record(
        ctx,
        caller,
        "service.create",
        Some(&id),
        json!({ "name": spec.name, "image": spec.image }),
    )
    .await;
    Changes::new().spec(&id).tell(ctx).await;
    get(ctx, &id).await
}

/// Replaces the spec with a new revision; an unchanged spec changes nothing.
pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    id_or_name: &str,
    spec: ServiceSpec,
) -> Result<Service, AppError> {
    deploy(ctx, caller, id_or_name, spec)
        .await
        .map(|deployed| deployed.service)
}

/// A service after a change, with the rollout the change started (read
/// from the change itself: the service's view may already show it ended).
pub struct Deployed {
    pub service: Service,
    pub rollout: Option<Rollout>,
}

/// [`update`], saying which rollout it started.
pub async fn deploy(
    ctx: &Ctx,
    caller: &Caller,
    id_or_name: &str,
    mut spec: ServiceSpec,
) -> Result<Deployed, AppError> {
    let current = find(ctx, id_or_name).await?;
    if spec.name != current.name {
        return Err(FieldError::new(
            "name",
            format!(
                "a service cannot be renamed (it is {:?}); create a new one instead",
                current.name
            ),
        )
        .into());
    }
    if spec.mode != current.spec.mode {
        return Err(FieldError::new(
            "mode",
            format!(
                "a service's mode cannot change (it is {}); create a new service instead",
                if current.spec.mode == Mode::Global {
                    "global"
                } else {
                    "replicated"
                }
            ),
        )
        .into());
    }
    keep_stored_password(&mut spec, &current.spec)?;
    spec.validate()?;
    check_ports_free(ctx, Some(&current.id), &spec).await?;
    networks::check_exist(ctx, &spec.networks).await?;
    let rollout = change(ctx, caller, &current, spec, "service.update").await?;
    let service = get(ctx, &current.id).await?;
    Ok(Deployed { service, rollout })
}

pub async fn scale(ctx: &Ctx, caller: &Caller, id_or_name: &str, replicas: u64) -> Result<Service, AppError> {
    let current = find(ctx, id_or_name).await?;
    if current.spec.mode == Mode::Global {
        return Err(AppError::Conflict(format!(
            "{} is a global service: it runs one task per eligible node and cannot be scaled",
            current.name
        )));
    }
    let mut spec = current.spec.clone();
    spec.replicas = Some(replicas);
    spec.validate()?;
    change(ctx, caller, &current, spec, "service.scale").await?;
    get(ctx, &current.id).await
}

/// A new revision unless the spec is unchanged; the rollout it started.
async fn change(
    ctx: &Ctx,
    caller: &Caller,
    current: &ServiceRecord,
    spec: ServiceSpec,
    action: &str,
) -> Result<Option<Rollout>, AppError> {
    if spec == current.spec {
        return Ok(None);
    }
    new_revision(ctx, caller, current, &spec, Cause::Edit { action }).await
}

pub async fn delete(ctx: &Ctx, caller: &Caller, id_or_name: &str) -> Result<(), AppError> {
    let current = find(ctx, id_or_name).await?;
    if !ctx.store.mark_service_deleted(&current.id, now_millis()).await? {
        return Err(AppError::NotFound(format!("no service {id_or_name:?}")));
    }
    audit::record(
        ctx,
        caller,
        "service.delete",
        Some(&current.id),
        json!({ "name": current.name }),
    )
    .await;
    Changes::new().removed(&current.id, &current.name).tell(ctx).await;
    Ok(())
}

/// Newest first.
pub async fn revisions(ctx: &Ctx, id_or_name: &str) -> Result<Vec<Revision>, AppError> {
    let service = find(ctx, id_or_name).await?;
    Ok(ctx
        .store
        .revisions(&service.id)
        .await?
        .into_iter()
        .map(|r| Revision {
            service_id: service.id.clone(),
            number: r.number,
            spec: r.spec.masked(),
            author: r.author,
            created_at: r.created_at,
        })
        .collect())
}

/// `from` defaults to the revision before `to`, `to` to the current one.
pub async fn revision_diff(
    ctx: &Ctx,
    id_or_name: &str,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<RevisionDiff, AppError> {
    let service = find(ctx, id_or_name).await?;
    let to = to.unwrap_or(service.revision);
    let from = from.unwrap_or(to.saturating_sub(1).max(1));
    let load = |number: u64| {
        let ctx = ctx.clone();
        let service = service.clone();
        async move {
            ctx.store.revision(&service.id, number).await?.ok_or_else(|| {
                AppError::NotFound(format!(
                    "{} has no revision {number}; it has revisions 1 to {}",
                    service.name, service.revision
                ))
            })
        }
    };
    let (before, after) = (load(from).await?, load(to).await?);
    Ok(RevisionDiff {
        from,
        to,
        changes: diff(&before.spec, &after.spec),
    })
}

fn name_taken(name: &str) -> AppError {
    AppError::Conflict(format!(
        "a service named {name:?} exists already: change it with PUT /api/v1/services/{name}, or choose another name"
    ))
}

/// A spec sent back with the masked password keeps the stored one, but only
/// for the same registry and username: otherwise the stored password would
/// follow the image to a registry of the sender's choosing.
fn keep_stored_password(spec: &mut ServiceSpec, stored: &ServiceSpec) -> Result<(), FieldError> {
    let Some(auth) = spec.registry_auth.as_mut() else {
        return Ok(());
    };
    if auth.password != MASKED_PASSWORD {
        return Ok(());
    }
    let registry = |image: &str| ImageRef::parse(image).registry().to_owned();
    match &stored.registry_auth {
        Some(old) if old.username == auth.username && registry(&spec.image) == registry(&stored.image) => {
            auth.password = old.password.clone();
            Ok(())
        }
        _ => Err(FieldError::new(
            "registry_auth.password",
            "the registry or the username changed: enter the registry password again",
        )),
    }
}

/// An ingress port is published on every node, so no other service may use
/// it in any mode.
async fn check_ports_free(ctx: &Ctx, this: Option<&str>, spec: &ServiceSpec) -> Result<(), AppError> {
    let others = ctx.store.list_services().await?;
    for (index, port) in spec.ports.iter().enumerate() {
        let Some(published) = port.published else {
            continue;
        };
        for other in others.iter().filter(|o| Some(o.id.as_str()) != this) {
            let clash = other.spec.ports.iter().any(|theirs| {
                theirs.published == Some(published)
                    && theirs.protocol == port.protocol
                    && (port.mode == PublishMode::Ingress || theirs.mode == PublishMode::Ingress)
            });
            if clash {
                return Err(FieldError::new(
                    format!("ports[{index}].published"),
                    format!(
                        "port {published} is already published by service {:?}; an ingress port is published on \
                         every node, so choose another port",
                        other.name
                    ),
                )
                .into());
            }
        }
    }
    Ok(())
}
