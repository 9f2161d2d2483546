//! Rollouts as users see and steer them: the list and detail, pause,
//! resume, abort, and rollback to an earlier revision. The orchestrator
//! drives them; these change what it is asked to do, audit it and wake it.

use std::collections::HashSet;

use serde_json::json;
use shoal_proto::service::{Rollout, RolloutDetail, RolloutStep};

use super::{
    audit, networks,
    revise::{Cause, new_revision},
    services,
};
use crate::{
    auth::Caller,
    changes::Changes,
    ctx::Ctx,
    error::AppError,
    orchestrator::{
        reconcile::progress,
        slots::{Desired, Rolling},
    },
    store::{RolloutMove, now_millis},
    views,
};

async fn find(ctx: &Ctx, id: &str) -> Result<Rollout, AppError> {
    ctx.store
        .rollout(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no rollout {id:?}")))
}

/// Newest first.
pub async fn of_service(ctx: &Ctx, service: &str) -> Result<Vec<Rollout>, AppError> {
    let service = services::find(ctx, service).await?;
    let mut views = Vec::new();
    for rollout in ctx.store.rollouts_of_service(&service.id).await? {
        views.push(views::rollout(ctx, rollout).await?);
    }
    Ok(views)
}

/// The service's newest rollout, running or ended, in detail; `None` for a
/// service that never had one.
pub async fn newest_of_service(ctx: &Ctx, service: &str) -> Result<Option<RolloutDetail>, AppError> {
    let service = services::find(ctx, service).await?;
    match ctx
        .store
        .rollouts_of_service(&service.id)
        .await?
        .into_iter()
        .next()
    {
        Some(newest) => get(ctx, &newest.id).await.map(Some),
        None => Ok(None),
    }
}

pub async fn get(ctx: &Ctx, id: &str) -> Result<RolloutDetail, AppError> {
    let rollout = views::rollout(ctx, find(ctx, id).await?).await?;
    let timeline = ctx.store.rollout_events(id).await?;
    let slots = match ctx.store.service_by_id(&rollout.service_id).await? {
        Some(service) if rollout.state.is_active() => {
            let tasks = ctx.store.tasks_of_service(&service.id).await?;
            let specs = ctx.store.revision_specs(&service, &tasks, Some(&rollout)).await?;
            let failures: HashSet<String> = ctx.store.rollout_failures(id).await?.into_iter().collect();
            let nodes = views::nodes(ctx).await?;
            match rollout.config(&specs) {
                Some(config) => {
                    let rolling = Rolling {
                        rollout: &rollout,
                        config,
                        failures: &failures,
                    };
                    progress(
                        &Desired::of(&service, &specs),
                        &tasks,
                        &nodes,
                        &rolling,
                        now_millis(),
                    )
                }
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    Ok(RolloutDetail {
        rollout,
        timeline,
        slots,
    })
}

/// Stops replacing tasks; the ones in flight finish.
pub async fn pause(ctx: &Ctx, caller: &Caller, id: &str) -> Result<Rollout, AppError> {
    let why = format!("paused by {}", caller.name());
    steer(
        ctx,
        caller,
        id,
        RolloutStep::Pause,
        Some(why.clone()),
        why,
        "rollout.pause",
    )
    .await
}

/// Carries on after a pause. The failures so far are forgiven: counting
/// them again would pause it at once.
pub async fn resume(ctx: &Ctx, caller: &Caller, id: &str) -> Result<Rollout, AppError> {
    let event = format!("resumed by {}", caller.name());
    steer(
        ctx,
        caller,
        id,
        RolloutStep::Resume,
        None,
        event,
        "rollout.resume",
    )
    .await
}

/// Stops the rollout for good where it is: tasks already replaced stay,
/// the others keep their old revision until the next change.
pub async fn abort(ctx: &Ctx, caller: &Caller, id: &str) -> Result<Rollout, AppError> {
    let why = format!("aborted by {}", caller.name());
    steer(
        ctx,
        caller,
        id,
        RolloutStep::Abort,
        Some(why.clone()),
        why,
        "rollout.abort",
    )
    .await
}

/// An operator's step: allowed by the rollout's state machine, taken only
/// if the rollout is still where it was read, audited and told.
async fn steer(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    step: RolloutStep,
    reason: Option<String>,
    event: String,
    action: &str,
) -> Result<Rollout, AppError> {
    let rollout = find(ctx, id).await?;
    let to = rollout.state.after(step).map_err(|refused| {
        AppError::Conflict(format!("{refused} (the rollout of {})", rollout.service_name))
    })?;
    if step == RolloutStep::Resume {
        ctx.store
            .forgive_rollout_failures(&rollout.id, now_millis())
            .await?;
    }
    let change = RolloutMove {
        from: rollout.state,
        step,
        reason,
        event,
    };
    if ctx
        .store
        .move_rollout(&rollout.id, &change, now_millis())
        .await?
        .is_none()
    {
        return Err(AppError::Conflict(
            "the rollout changed meanwhile; reload it and try again".into(),
        ));
    }
    audit::record(
        ctx,
        caller,
        action,
        Some(&rollout.id),
        json!({ "service": rollout.service_name, "from": rollout.state, "to": to }),
    )
    .await;
    Changes::new()
        .rollout(&rollout.id)
        .wake(&rollout.service_id)
        .tell(ctx)
        .await;
    views::rollout(ctx, find(ctx, id).await?).await
}

/// Makes a new revision equal to `revision` (by default the one before the
/// current) and rolls it out with the rollback config.
pub async fn rollback(
    ctx: &Ctx,
    caller: &Caller,
    service: &str,
    revision: Option<u64>,
) -> Result<Rollout, AppError> {
    let current = services::find(ctx, service).await?;
    let target = revision.unwrap_or(current.revision.saturating_sub(1));
    if target == 0 || target >= current.revision {
        return Err(AppError::BadRequest(format!(
            "{} is at revision {}; roll back to one of revisions 1 to {}",
            current.name,
            current.revision,
            current.revision.saturating_sub(1).max(1)
        )));
    }
    let old = ctx
        .store
        .revision(&current.id, target)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("{} has no revision {target}", current.name)))?;
    // A network the old revision joined may have been deleted since.
    networks::check_exist(ctx, &old.spec.networks).await?;
    let rollout = new_revision(ctx, caller, &current, &old.spec, Cause::Rollback { to: target })
        .await?
        .ok_or_else(|| AppError::Internal("a rollback started no rollout".into()))?;
    views::rollout(ctx, find(ctx, &rollout.id).await?).await
}
