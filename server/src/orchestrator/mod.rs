//! The orchestrator: one loop that keeps every service's tasks matching its
//! spec. It wakes on changes (a spec, a node, a task that ended; writes say
//! so through `changes`), on the restart delays it is waiting out, and
//! every few seconds as a safety net; each pass reads the state, lets
//! `reconcile` decide, and `apply` writes the plan and tells what changed.

mod apply;
pub mod reconcile;
#[cfg(test)]
mod scenarios;
pub mod scheduler;
pub mod slots;
#[cfg(test)]
mod testkit;
mod updater;
pub mod wake;

use std::{collections::HashSet, time::Duration};

use shoal_proto::node::NodeStatus;

use self::wake::{Trigger, Wakeups};
use crate::{
    ctx::Ctx,
    store::{NodeRecord, StoreError, now_millis},
};

/// A full pass this often, whatever happened: catches anything an event
/// missed.
const RESYNC: Duration = Duration::from_secs(10);

/// Changes close together are handled in one pass.
const SETTLE: Duration = Duration::from_millis(20);

/// Runs until the server stops.
pub async fn run(ctx: Ctx, Wakeups(mut wakeups): Wakeups) {
    let mut wake_at: Option<i64> = None;
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        let mut all = false;
        let mut services = HashSet::new();
        let delay = wake_at.map(|at| Duration::from_millis(u64::try_from(at - now_millis()).unwrap_or(0)));
        tokio::select! {
            trigger = wakeups.recv() => match trigger {
                Some(Trigger::All) => all = true,
                Some(Trigger::Service(id)) => { services.insert(id); }
                None => return,
            },
            () = sleep_opt(delay) => { all = true; wake_at = None; }
            _ = resync.tick() => all = true,
        }
        tokio::time::sleep(SETTLE).await;
        while let Ok(trigger) = wakeups.try_recv() {
            match trigger {
                Trigger::All => all = true,
                Trigger::Service(id) => {
                    services.insert(id);
                }
            }
        }
        let ids = if all {
            match ctx.store.service_ids().await {
                Ok(ids) => ids,
                Err(error) => {
                    tracing::error!(%error, "cannot list services to orchestrate");
                    continue;
                }
            }
        } else {
            services.into_iter().collect()
        };
        match pass(&ctx, &ids).await {
            Ok(next) => {
                wake_at = match (wake_at, next) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Err(error) => tracing::error!(%error, "orchestration pass failed; retrying at the next resync"),
        }
    }
}

async fn sleep_opt(delay: Option<Duration>) {
    match delay {
        Some(delay) => tokio::time::sleep(delay).await,
        None => std::future::pending().await,
    }
}

/// One pass over some services; returns when to look again.
async fn pass(ctx: &Ctx, service_ids: &[String]) -> Result<Option<i64>, StoreError> {
    if service_ids.is_empty() {
        return Ok(None);
    }
    let records = ctx.store.list_nodes().await?;
    let now = now_millis();
    let (nodes, lost) = live_nodes(ctx, records, now);
    let mut wake_at = None;
    for id in service_ids {
        if let Some(at) = apply::service(ctx, id, &nodes, &lost, now).await? {
            wake_at = Some(wake_at.map_or(at, |w: i64| w.min(at)));
        }
    }
    Ok(wake_at)
}

/// Nodes with their live status, and those down long enough that their
/// tasks move.
fn live_nodes(
    ctx: &Ctx,
    records: Vec<NodeRecord>,
    now: i64,
) -> (Vec<shoal_proto::node::Node>, HashSet<String>) {
    let grace = ctx.heartbeat.tolerance() + ctx.reschedule_after;
    let grace = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let started = now - i64::try_from(ctx.started.elapsed().as_millis()).unwrap_or(0);
    let mut lost = HashSet::new();
    let nodes = records
        .into_iter()
        .map(|record| {
            let mut node = record.node;
            let (status, last_heartbeat_at) = ctx.presence.status(&node.id);
            node.status = status;
            let last_seen = last_heartbeat_at
                .or(node.last_heartbeat_at)
                .unwrap_or(started)
                .max(started);
            if status == NodeStatus::Down && now - last_seen >= grace {
                lost.insert(node.id.clone());
            }
            node
        })
        .collect();
    (nodes, lost)
}
