//! One service's pass: read, decide, write, tell.

use std::collections::{BTreeSet, HashMap, HashSet};

use shoal_proto::{
    node::Node,
    service::{Rollout, ServiceSpec},
};

use super::{
    reconcile::{Cluster, reconcile},
    slots::{Desired, Rolling},
    updater::{Decision, Outcome},
};
use crate::{
    auth::secret::new_id,
    changes::Changes,
    ctx::Ctx,
    store::{RolloutMove, ServiceRecord, StoreError, TaskWrite},
};

/// Reconciles one service; returns when it wants to look again.
pub async fn service(
    ctx: &Ctx,
    id: &str,
    nodes: &[Node],
    lost: &HashSet<String>,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let Some(service) = ctx.store.service_by_id(id).await? else {
        return Ok(None);
    };
    let tasks = ctx.store.tasks_of_service(id).await?;
    let placed = ctx.store.placed_tasks().await?;
    let rollout = ctx.store.active_rollout(id).await?;
    let specs = ctx
        .store
        .revision_specs(&service, &tasks, rollout.as_ref())
        .await?;
    let failures: HashSet<String> = match &rollout {
        Some(rollout) => ctx
            .store
            .rollout_failures(&rollout.id)
            .await?
            .into_iter()
            .collect(),
        None => HashSet::new(),
    };
    let config = rollout.as_ref().and_then(|rollout| rollout.config(&specs));
    let rolling = match (&rollout, config) {
        (Some(rollout), Some(config)) if service.deleted_at.is_none() => Some(Rolling {
            rollout,
            config,
            failures: &failures,
        }),
        _ => None,
    };
    let desired = Desired::of(&service, &specs);
    let cluster = Cluster {
        nodes,
        lost,
        placed: &placed,
        now,
    };
    let plan = reconcile(&desired, &tasks, &cluster, rolling.as_ref(), &mut new_id);
    let mut changes = Changes::new();
    if let (Some(decision), Some(rollout)) = (&plan.rollout, &rollout) {
        let (changed, moved) = record_rollout(ctx, &service, rollout, decision, &specs, now).await?;
        if changed {
            changes = changes.rollout(&rollout.id);
        }
        if moved {
            // Another look at once, in the rollout's new state.
            changes = changes.wake(id);
        }
    }
    if plan.writes.is_empty() && !plan.purge {
        changes.tell(ctx).await;
        return Ok(plan.wake_at);
    }
    // Nodes whose assignment set changes: where touched tasks were and are.
    let mut touched_nodes = BTreeSet::new();
    for write in &plan.writes {
        match write {
            TaskWrite::Insert(record) => touched_nodes.extend(record.task.node_id.clone()),
            TaskWrite::Assign { node_id, .. } => {
                touched_nodes.insert(node_id.clone());
            }
            _ => {}
        }
    }
    touched_nodes.extend(tasks.iter().filter_map(|r| r.task.node_id.clone()));
    let changed = ctx.store.apply_task_writes(&plan.writes, now).await?;
    for task_id in &changed {
        if let Some(record) = ctx.store.task(task_id).await? {
            changes = changes.task(record.task);
        }
    }
    for node_id in &touched_nodes {
        changes = changes.nudge(node_id);
    }
    if plan.purge {
        ctx.store.purge_service(id).await?;
        tracing::info!(service = %service.name, "deleted service has no tasks left; forgotten");
    } else if service.deleted_at.is_none() {
        changes = changes.tasks_of(id);
    }
    changes.tell(ctx).await;
    Ok(plan.wake_at)
}

/// Stores what the updater found and decided: whether the rollout changed
/// (to be published) and whether it moved to another state (to be looked
/// at again at once).
async fn record_rollout(
    ctx: &Ctx,
    service: &ServiceRecord,
    rollout: &Rollout,
    decision: &Decision,
    specs: &HashMap<u64, ServiceSpec>,
    now: i64,
) -> Result<(bool, bool), StoreError> {
    let mut changed = false;
    for (task_id, message) in &decision.new_failures {
        changed |= ctx
            .store
            .record_rollout_failure(&rollout.id, task_id, message, now)
            .await?;
    }
    if let Some(event) = &decision.batch_event {
        ctx.store.add_rollout_event(&rollout.id, now, event).await?;
        changed = true;
    }
    changed |= ctx
        .store
        .set_rollout_counts(
            &rollout.id,
            (decision.total, decision.updated, decision.failed),
            now,
        )
        .await?;
    let Some(outcome) = &decision.outcome else {
        return Ok((changed, false));
    };
    let target = service.revision;
    let (reason, event) = match outcome {
        Outcome::Completed => {
            let event = if rollout.state.is_rollback() {
                format!("rolled back: every task runs revision {target}")
            } else {
                format!("completed: every task runs revision {target}")
            };
            // A rollback keeps saying why it happened.
            (rollout.reason.clone(), event)
        }
        Outcome::Pause(why) => (Some(why.clone()), format!("paused: {why}")),
        Outcome::Fail(why) => (Some(why.clone()), format!("failed: {why}")),
        Outcome::Rollback(why) => {
            let moved = match specs.get(&rollout.from_revision) {
                Some(spec) => ctx
                    .store
                    .roll_back(rollout, target, spec, why, now)
                    .await?
                    .is_some(),
                None => false,
            };
            return Ok((changed || moved, moved));
        }
    };
    let change = RolloutMove {
        from: rollout.state,
        step: outcome.step(),
        reason,
        event,
    };
    let moved = ctx.store.move_rollout(&rollout.id, &change, now).await?;
    if let Some(to) = moved {
        tracing::info!(service = %rollout.service_name, rollout = %rollout.id, state = %to, "rollout moved");
    }
    Ok((changed || moved.is_some(), moved.is_some()))
}
