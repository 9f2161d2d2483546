//! Rollouts as users see and steer them: the list and detail, pause,
//! resume, abort, and rollback to an earlier revision. The orchestrator
//! drives them; these change what it is asked to do, audit it and wake it.

use std::collections::{BTreeSet, HashMap, HashSet, hash_map::Entry};

use serde_json::json;
use shoal_proto::{
    event::Event,
    service::{Rollout, RolloutDetail, RolloutState, ServiceSpec, UpdateConfig},
};

use super::{audit, services};
use crate::ctx::Ctx;
use crate::{
    auth::{Caller, secret::new_id},
    error::AppError,
    orchestrator::reconcile::{Desired, Rolling, progress},
    store::{RevisionError, RolloutMove, ServiceRecord, TaskRecord, now_millis},
};

/// The revision whose update (or rollback) config drives the rollout: the
/// one being replaced when rolling back, the one being rolled out otherwise.
/// A requested rollback heads for its `rollback_revision` from
/// `from_revision`; an automatic one turned back from `to_revision`.
pub fn config_revision(rollout: &Rollout) -> u64 {
    match rollout.rollback_revision {
        Some(revision) if revision == rollout.to_revision => rollout.from_revision,
        _ => rollout.to_revision,
    }
}

/// The settings a rollout runs with: the update config, or the rollback
/// config while rolling back.
pub fn config_of<'a>(rollout: &Rollout, specs: &'a HashMap<u64, ServiceSpec>) -> Option<&'a UpdateConfig> {
    let spec = specs.get(&config_revision(rollout))?;
    Some(if rollout.state.is_rollback() {
        &spec.rollback_config
    } else {
        &spec.update_config
    })
}

/// The specs of the service's current revision, of the revisions its tasks
/// run and of those the rollout names.
pub async fn revision_specs(
    ctx: &Ctx,
    service: &ServiceRecord,
    tasks: &[TaskRecord],
    rollout: Option<&Rollout>,
) -> Result<HashMap<u64, ServiceSpec>, sqlx::Error> {
    let mut wanted: BTreeSet<u64> = tasks.iter().map(|r| r.task.revision).collect();
    if let Some(rollout) = rollout {
        wanted.extend([
            rollout.from_revision,
            rollout.to_revision,
            config_revision(rollout),
        ]);
    }
    let mut specs = HashMap::from([(service.revision, service.spec.clone())]);
    for number in wanted {
        if let Entry::Vacant(entry) = specs.entry(number)
            && let Some(revision) = ctx.store.revision(&service.id, number).await?
        {
            entry.insert(revision.spec);
        }
    }
    Ok(specs)
}

/// The rollout with the settings it runs with filled in.
pub fn view(mut rollout: Rollout, specs: &HashMap<u64, ServiceSpec>) -> Rollout {
    if let Some(config) = config_of(&rollout, specs) {
        rollout.parallelism = config.parallelism;
        rollout.order = config.order;
    }
    rollout
}

pub async fn load_view(ctx: &Ctx, rollout: Rollout) -> Result<Rollout, AppError> {
    let number = config_revision(&rollout);
    let specs: HashMap<u64, ServiceSpec> = ctx
        .store
        .revision(&rollout.service_id, number)
        .await?
        .map(|r| (number, r.spec))
        .into_iter()
        .collect();
    Ok(view(rollout, &specs))
}

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
        views.push(load_view(ctx, rollout).await?);
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
    let rollout = load_view(ctx, find(ctx, id).await?).await?;
    let timeline = ctx.store.rollout_events(id).await?;
    let slots = match ctx.store.service_by_id(&rollout.service_id).await? {
        Some(service) if rollout.state.is_active() => {
            let tasks = ctx.store.tasks_of_service(&service.id).await?;
            let specs = revision_specs(ctx, &service, &tasks, Some(&rollout)).await?;
            let failures: HashSet<String> = ctx.store.rollout_failures(id).await?.into_iter().collect();
            let nodes = super::nodes::list(ctx).await?;
            match config_of(&rollout, &specs) {
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
    let rollout = find(ctx, id).await?;
    let to = match rollout.state {
        RolloutState::Updating => RolloutState::Paused,
        RolloutState::RollbackStarted => RolloutState::RollbackPaused,
        other => return Err(not_now(&rollout, other, "paused")),
    };
    let who = services::author(caller);
    steer(
        ctx,
        caller,
        &rollout,
        to,
        Some(format!("paused by {who}")),
        format!("paused by {who}"),
        "rollout.pause",
    )
    .await
}

/// Carries on after a pause. The failures so far are forgiven: counting
/// them again would pause it at once.
pub async fn resume(ctx: &Ctx, caller: &Caller, id: &str) -> Result<Rollout, AppError> {
    let rollout = find(ctx, id).await?;
    let to = match rollout.state {
        RolloutState::Paused => RolloutState::Updating,
        RolloutState::RollbackPaused => RolloutState::RollbackStarted,
        other => return Err(not_now(&rollout, other, "resumed")),
    };
    let who = services::author(caller);
    ctx.store
        .forgive_rollout_failures(&rollout.id, now_millis())
        .await?;
    steer(
        ctx,
        caller,
        &rollout,
        to,
        None,
        format!("resumed by {who}"),
        "rollout.resume",
    )
    .await
}

/// Stops the rollout for good where it is: tasks already replaced stay,
/// the others keep their old revision until the next change.
pub async fn abort(ctx: &Ctx, caller: &Caller, id: &str) -> Result<Rollout, AppError> {
    let rollout = find(ctx, id).await?;
    if !rollout.state.is_active() {
        return Err(not_now(&rollout, rollout.state, "aborted"));
    }
    let who = services::author(caller);
    let why = format!("aborted by {who}");
    steer(
        ctx,
        caller,
        &rollout,
        RolloutState::Failed,
        Some(why.clone()),
        why,
        "rollout.abort",
    )
    .await
}

async fn steer(
    ctx: &Ctx,
    caller: &Caller,
    rollout: &Rollout,
    to: RolloutState,
    reason: Option<String>,
    event: String,
    action: &str,
) -> Result<Rollout, AppError> {
    let change = RolloutMove {
        from: rollout.state,
        to,
        reason,
        event,
    };
    if !ctx.store.move_rollout(&rollout.id, &change, now_millis()).await? {
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
    ctx.orchestrator.service_changed(&rollout.service_id);
    announce(ctx, &rollout.id).await
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
    let next = current.revision + 1;
    let now = now_millis();
    let who = services::author(caller);
    let rollout = Rollout {
        id: new_id(),
        service_id: current.id.clone(),
        service_name: current.name.clone(),
        from_revision: current.revision,
        to_revision: next,
        rollback_revision: Some(next),
        state: RolloutState::RollbackStarted,
        reason: Some(format!("rollback to revision {target} requested by {who}")),
        trigger: "rollback".into(),
        actor: who.clone(),
        total: 0,
        updated: 0,
        failed: 0,
        parallelism: 0,
        order: Default::default(),
        started_at: now,
        phase_started_at: now,
        updated_at: now,
        ended_at: None,
    };
    let event = format!(
        "rolling back from revision {} to revision {target} (as revision {next}), requested by {who}",
        current.revision
    );
    ctx.store
        .add_revision(
            &current.id,
            current.revision,
            &old.spec,
            &who,
            now,
            Some((&rollout, &event)),
        )
        .await
        .map_err(|error| match error {
            RevisionError::Stale => AppError::Conflict(format!(
                "{} changed while the rollback was prepared; try again",
                current.name
            )),
            RevisionError::Store(error) => error.into(),
        })?;
    audit::record(
        ctx,
        caller,
        "service.rollback",
        Some(&current.id),
        json!({ "name": current.name, "to_revision": target, "revision": next, "rollout": rollout.id }),
    )
    .await;
    ctx.orchestrator.service_changed(&current.id);
    services::announce(ctx, &current.id).await;
    announce(ctx, &rollout.id).await
}

/// Publishes the rollout as it is now and returns it.
pub async fn announce(ctx: &Ctx, id: &str) -> Result<Rollout, AppError> {
    let rollout = load_view(ctx, find(ctx, id).await?).await?;
    ctx.events.publish(Event::RolloutUpdated {
        rollout: Box::new(rollout.clone()),
    });
    Ok(rollout)
}

fn not_now(rollout: &Rollout, state: RolloutState, wanted: &str) -> AppError {
    AppError::Conflict(format!(
        "the rollout of {} is {state}; it cannot be {wanted} now",
        rollout.service_name
    ))
}
