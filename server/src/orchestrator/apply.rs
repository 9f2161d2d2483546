//! One service's pass: read, decide, write, tell.

use std::collections::{BTreeSet, HashMap, HashSet};

use shoal_proto::{
    event::Event,
    node::Node,
    service::{Rollout, RolloutState, ServiceSpec},
};

use super::{
    reconcile::{Cluster, Desired, Rolling, reconcile},
    updater::{Decision, Outcome},
};
use crate::{
    auth::secret::new_id,
    ctx::Ctx,
    ops::rollouts,
    store::{RolloutMove, ServiceRecord, TaskWrite},
};

/// Reconciles one service; returns when it wants to look again.
pub async fn service(
    ctx: &Ctx,
    id: &str,
    nodes: &[Node],
    lost: &HashSet<String>,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let Some(service) = ctx.store.service_by_id(id).await? else {
        return Ok(None);
    };
    let tasks = ctx.store.tasks_of_service(id).await?;
    let placed = ctx.store.placed_tasks().await?;
    let rollout = ctx.store.active_rollout(id).await?;
    let specs = rollouts::revision_specs(ctx, &service, &tasks, rollout.as_ref()).await?;
    let failures: HashSet<String> = match &rollout {
        Some(rollout) => ctx
            .store
            .rollout_failures(&rollout.id)
            .await?
            .into_iter()
            .collect(),
        None => HashSet::new(),
    };
    let config = rollout
        .as_ref()
        .and_then(|rollout| rollouts::config_of(rollout, &specs));
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
    let mut again = false;
    if let (Some(decision), Some(rollout)) = (&plan.rollout, &rollout) {
        again = record_rollout(ctx, &service, rollout, decision, &specs, now).await?;
    }
    if plan.writes.is_empty() && !plan.purge {
        if again {
            ctx.orchestrator.service_changed(id);
        }
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
            ctx.events.publish(Event::TaskUpdated { task: record.task });
        }
    }
    for node_id in &touched_nodes {
        ctx.dispatcher.notify(node_id);
    }
    if plan.purge {
        ctx.store.purge_service(id).await?;
        tracing::info!(service = %service.name, "deleted service has no tasks left; forgotten");
    } else if service.deleted_at.is_none() {
        crate::ops::services::announce(ctx, id).await;
    }
    if again {
        ctx.orchestrator.service_changed(id);
    }
    Ok(plan.wake_at)
}

/// Stores what the updater found and decided; whether to look again at
/// once (the rollout changed state).
async fn record_rollout(
    ctx: &Ctx,
    service: &ServiceRecord,
    rollout: &Rollout,
    decision: &Decision,
    specs: &HashMap<u64, ServiceSpec>,
    now: i64,
) -> Result<bool, sqlx::Error> {
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
    let mut again = false;
    if let Some(outcome) = &decision.outcome {
        let rolling_back = rollout.state.is_rollback();
        let target = service.revision;
        let moved = match outcome {
            Outcome::Completed => {
                let (to, event) = if rolling_back {
                    (
                        RolloutState::RollbackCompleted,
                        format!("rolled back: every task runs revision {target}"),
                    )
                } else {
                    (
                        RolloutState::Completed,
                        format!("completed: every task runs revision {target}"),
                    )
                };
                // A rollback keeps saying why it happened.
                move_to(ctx, rollout, to, rollout.reason.clone(), event, now).await?
            }
            Outcome::Pause(why) => {
                let to = if rolling_back {
                    RolloutState::RollbackPaused
                } else {
                    RolloutState::Paused
                };
                move_to(ctx, rollout, to, Some(why.clone()), format!("paused: {why}"), now).await?
            }
            Outcome::Fail(why) => {
                move_to(
                    ctx,
                    rollout,
                    RolloutState::Failed,
                    Some(why.clone()),
                    format!("failed: {why}"),
                    now,
                )
                .await?
            }
            Outcome::Rollback(why) => match specs.get(&rollout.from_revision) {
                Some(spec) => ctx
                    .store
                    .roll_back(rollout, target, spec, why, now)
                    .await?
                    .is_some(),
                None => false,
            },
        };
        changed |= moved;
        again = moved;
    }
    if changed && let Some(rollout) = ctx.store.rollout(&rollout.id).await? {
        ctx.events.publish(Event::RolloutUpdated {
            rollout: Box::new(rollouts::view(rollout, specs)),
        });
    }
    Ok(again)
}

async fn move_to(
    ctx: &Ctx,
    rollout: &Rollout,
    to: RolloutState,
    reason: Option<String>,
    event: String,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let change = RolloutMove {
        from: rollout.state,
        to,
        reason,
        event,
    };
    let moved = ctx.store.move_rollout(&rollout.id, &change, now).await?;
    if moved {
        tracing::info!(service = %rollout.service_name, rollout = %rollout.id, state = %to, "rollout moved");
    }
    Ok(moved)
}
