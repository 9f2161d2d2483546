//! Services: create, change (each change a new revision), scale, delete, and
//! the revision history. The orchestrator does the running; these record
//! what is wanted, audit it and wake the orchestrator.

use serde_json::json;
use shoal_proto::{
    auth::FieldError,
    container::replaces_tasks,
    event::Event,
    service::{
        DesiredState, MASKED_PASSWORD, Mode, PublishMode, Revision, RevisionDiff, Rollout, RolloutState,
        Service, ServiceSpec, TaskCounts, TaskState, diff,
    },
};

use super::audit;
use crate::ctx::Ctx;
use crate::{
    auth::{ActorKind, Caller, secret::new_id},
    error::AppError,
    store::{RevisionError, ServiceRecord, TaskRecord, now_millis},
};

pub async fn list(ctx: &Ctx) -> Result<Vec<Service>, AppError> {
    let mut services = Vec::new();
    for record in ctx.store.list_services().await? {
        let tasks = ctx.store.tasks_of_service(&record.id).await?;
        services.push(view_of(ctx, record, &tasks).await?);
    }
    Ok(services)
}

/// By id or by name.
pub async fn get(ctx: &Ctx, id_or_name: &str) -> Result<Service, AppError> {
    let record = find(ctx, id_or_name).await?;
    let tasks = ctx.store.tasks_of_service(&record.id).await?;
    view_of(ctx, record, &tasks).await
}

/// The service as users see it, with its active and its last ended rollout.
pub async fn view_of(ctx: &Ctx, record: ServiceRecord, tasks: &[TaskRecord]) -> Result<Service, AppError> {
    let rollout = active_rollout(ctx, &record.id).await?;
    let last_rollout = match ctx.store.last_ended_rollout(&record.id).await? {
        Some(rollout) => Some(super::rollouts::load_view(ctx, rollout).await?),
        None => None,
    };
    let mut service = view(record, tasks, rollout);
    service.last_rollout = last_rollout;
    Ok(service)
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
    let id = new_id();
    let now = now_millis();
    ctx.store
        .insert_service(&id, &spec, &author(caller), now)
        .await
        // Two creations racing past the check above.
        .map_err(|error| match AppError::from(error) {
            AppError::Conflict(_) => name_taken(&spec.name),
            other => other,
        })?;
    audit::record(
        ctx,
        caller,
        "service.create",
        Some(&id),
        json!({ "name": spec.name, "image": spec.image }),
    )
    .await;
    ctx.orchestrator.service_changed(&id);
    announce(ctx, &id).await;
    get(ctx, &id).await
}

/// Replaces the spec with a new revision; an unchanged spec changes nothing.
pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    id_or_name: &str,
    mut spec: ServiceSpec,
) -> Result<Service, AppError> {
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
    keep_stored_password(&mut spec, &current.spec);
    spec.validate()?;
    check_ports_free(ctx, Some(&current.id), &spec).await?;
    change(ctx, caller, current, spec, "service.update").await
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
    change(ctx, caller, current, spec, "service.scale").await
}

async fn change(
    ctx: &Ctx,
    caller: &Caller,
    current: ServiceRecord,
    spec: ServiceSpec,
    action: &str,
) -> Result<Service, AppError> {
    if spec == current.spec {
        return get(ctx, &current.id).await;
    }
    let changes = diff(&current.spec, &spec);
    let now = now_millis();
    let who = author(caller);
    let next = current.revision + 1;
    // A change that alters what the tasks run rolls out batch by batch; one
    // that only scales or retunes settings replaces nothing.
    let rollout = replaces_tasks(&current.spec, &spec).then(|| Rollout {
        id: new_id(),
        service_id: current.id.clone(),
        service_name: current.name.clone(),
        from_revision: current.revision,
        to_revision: next,
        rollback_revision: None,
        state: RolloutState::Updating,
        reason: None,
        trigger: trigger(caller).into(),
        actor: who.clone(),
        total: 0,
        updated: 0,
        failed: 0,
        parallelism: spec.update_config.parallelism,
        order: spec.update_config.order,
        started_at: now,
        phase_started_at: now,
        updated_at: now,
        ended_at: None,
    });
    let event = format!(
        "rolling out revision {next} (from {}), started by {who}",
        current.revision
    );
    let revision = ctx
        .store
        .add_revision(
            &current.id,
            current.revision,
            &spec,
            &who,
            now,
            rollout.as_ref().map(|r| (r, event.as_str())),
        )
        .await
        .map_err(|error| match error {
            RevisionError::Stale => AppError::Conflict(format!(
                "{} changed while this change was made; reload it and try again",
                current.name
            )),
            RevisionError::Store(error) => error.into(),
        })?;
    if let Some(rollout) = &rollout {
        ctx.events.publish(Event::RolloutUpdated {
            rollout: Box::new(rollout.clone()),
        });
    }
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    audit::record(
        ctx,
        caller,
        action,
        Some(&current.id),
        json!({ "name": current.name, "revision": revision, "changed": paths }),
    )
    .await;
    ctx.orchestrator.service_changed(&current.id);
    announce(ctx, &current.id).await;
    get(ctx, &current.id).await
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
    ctx.events.publish(Event::ServiceRemoved {
        id: current.id.clone(),
        name: current.name,
    });
    ctx.orchestrator.service_changed(&current.id);
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

/// Publishes the service as it is now, for lists that show its counts.
pub async fn announce(ctx: &Ctx, id: &str) {
    match get(ctx, id).await {
        Ok(service) => ctx.events.publish(Event::ServiceUpdated {
            service: Box::new(service),
        }),
        Err(AppError::NotFound(_)) => {}
        Err(error) => tracing::warn!(%error, service = id, "cannot announce a service change"),
    }
}

async fn active_rollout(ctx: &Ctx, service_id: &str) -> Result<Option<Rollout>, AppError> {
    match ctx.store.active_rollout(service_id).await? {
        Some(rollout) => Ok(Some(super::rollouts::load_view(ctx, rollout).await?)),
        None => Ok(None),
    }
}

fn view(record: ServiceRecord, tasks: &[TaskRecord], rollout: Option<Rollout>) -> Service {
    let live = |r: &&TaskRecord| r.task.desired_state == DesiredState::Running && !r.task.state.is_terminal();
    let desired = match record.spec.replica_count() {
        Some(replicas) => replicas,
        None => tasks.iter().filter(live).count() as u64,
    };
    let counts = TaskCounts {
        desired,
        running: tasks
            .iter()
            .filter(live)
            .filter(|r| r.task.state == TaskState::Running)
            .count() as u64,
        pending: tasks
            .iter()
            .filter(live)
            .filter(|r| r.task.state == TaskState::Pending)
            .count() as u64,
    };
    // The newest word on why a task waits: reasons change as nodes come and go.
    let pending_reason = tasks
        .iter()
        .filter(live)
        .filter(|r| r.task.state == TaskState::Pending)
        .max_by_key(|r| r.task.updated_at)
        .map(|r| r.task.message.clone());
    Service {
        id: record.id,
        name: record.name,
        revision: record.revision,
        spec: record.spec.masked(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        tasks: counts,
        warnings: record.spec.warnings(),
        rollout,
        last_rollout: None,
        pending_reason,
    }
}

fn name_taken(name: &str) -> AppError {
    AppError::Conflict(format!(
        "a service named {name:?} exists already: change it with PUT /api/v1/services/{name}, or choose another name"
    ))
}

/// What a rollout records as its cause: a webhook delivery or a change by hand.
fn trigger(caller: &Caller) -> &'static str {
    match caller.actor.as_ref().map(|actor| actor.kind) {
        Some(ActorKind::Webhook) => "webhook",
        _ => "update",
    }
}

pub fn author(caller: &Caller) -> String {
    caller
        .actor
        .as_ref()
        .map_or_else(|| "system".to_owned(), |actor| actor.username.clone())
}

/// A spec sent back with the masked password keeps the stored one.
fn keep_stored_password(spec: &mut ServiceSpec, stored: &ServiceSpec) {
    if let (Some(auth), Some(old)) = (spec.registry_auth.as_mut(), stored.registry_auth.as_ref())
        && auth.password == MASKED_PASSWORD
    {
        auth.password = old.password.clone();
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
