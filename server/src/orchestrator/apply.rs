//! One service's pass: read, decide, write, tell.

use std::collections::{BTreeSet, HashSet};

use shoal_proto::{event::Event, node::Node};

use super::reconcile::{Cluster, Desired, reconcile};
use crate::{auth::secret::new_id, ops::Ctx, store::TaskWrite};

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
    let desired = Desired {
        id: &service.id,
        name: &service.name,
        revision: service.revision,
        spec: &service.spec,
        deleted: service.deleted_at.is_some(),
    };
    let cluster = Cluster {
        nodes,
        lost,
        placed: &placed,
        now,
    };
    let plan = reconcile(&desired, &tasks, &cluster, &mut new_id);
    if plan.writes.is_empty() && !plan.purge {
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
    Ok(plan.wake_at)
}
