//! What users see, built where it is read: a service with its task counts
//! and rollouts, a rollout with the settings it runs with, a node with its
//! live status, a network with its services. The operations, the event funnel and the dashboard all
//! build their views here, from the store and what only this server knows.

use std::collections::HashMap;

use shoal_proto::{
    network::Network,
    node::Node,
    service::{DesiredState, Rollout, Service, ServiceSpec, TaskCounts, TaskState},
};

use crate::{
    ctx::Ctx,
    error::AppError,
    store::{ServiceRecord, TaskRecord},
};

/// The service as users see it, with its active and its last ended rollout.
pub async fn service(ctx: &Ctx, record: ServiceRecord, tasks: &[TaskRecord]) -> Result<Service, AppError> {
    let rollout = match ctx.store.active_rollout(&record.id).await? {
        Some(rollout) => Some(self::rollout(ctx, rollout).await?),
        None => None,
    };
    let last_rollout = match ctx.store.last_ended_rollout(&record.id).await? {
        Some(rollout) => Some(self::rollout(ctx, rollout).await?),
        None => None,
    };
    let mut service = counted(record, tasks, rollout);
    service.last_rollout = last_rollout;
    Ok(service)
}

/// A live service by id, if there still is one.
pub async fn service_by_id(ctx: &Ctx, id: &str) -> Result<Option<Service>, AppError> {
    let Some(record) = ctx.store.find_service(id).await? else {
        return Ok(None);
    };
    let tasks = ctx.store.tasks_of_service(&record.id).await?;
    service(ctx, record, &tasks).await.map(Some)
}

/// The rollout with the settings it runs with filled in.
pub async fn rollout(ctx: &Ctx, rollout: Rollout) -> Result<Rollout, AppError> {
    let number = rollout.config_revision();
    let specs: HashMap<u64, ServiceSpec> = ctx
        .store
        .revision(&rollout.service_id, number)
        .await?
        .map(|r| (number, r.spec))
        .into_iter()
        .collect();
    Ok(rollout.with_settings(&specs))
}

/// The stored node with what only this server knows: its live status and
/// latest heartbeat.
pub fn node(ctx: &Ctx, mut node: Node) -> Node {
    let (status, last_heartbeat_at) = ctx.presence.status(&node.id);
    node.status = status;
    node.last_heartbeat_at = node.last_heartbeat_at.max(last_heartbeat_at);
    node
}

pub async fn nodes(ctx: &Ctx) -> Result<Vec<Node>, AppError> {
    let records = ctx.store.list_nodes().await?;
    Ok(records.into_iter().map(|record| node(ctx, record.node)).collect())
}

pub async fn node_by_id(ctx: &Ctx, id: &str) -> Result<Option<Node>, AppError> {
    Ok(ctx
        .store
        .node_by_id(id)
        .await?
        .map(|record| node(ctx, record.node)))
}

/// Networks with the names of the live services whose spec lists each.
pub async fn networks(ctx: &Ctx, mut networks: Vec<Network>) -> Result<Vec<Network>, AppError> {
    let services = ctx.store.list_services().await?;
    for network in &mut networks {
        network.services = on_network(&services, &network.name);
    }
    Ok(networks)
}

/// One network with its services.
pub async fn network(ctx: &Ctx, mut network: Network) -> Result<Network, AppError> {
    network.services = on_network(&ctx.store.list_services().await?, &network.name);
    Ok(network)
}

/// The names of the services on network `name`, in the order given.
fn on_network(services: &[ServiceRecord], name: &str) -> Vec<String> {
    services
        .iter()
        .filter(|s| s.spec.networks.iter().any(|n| n == name))
        .map(|s| s.name.clone())
        .collect()
}

fn counted(record: ServiceRecord, tasks: &[TaskRecord], rollout: Option<Rollout>) -> Service {
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
        address: Some(record.address),
        created_at: record.created_at,
        updated_at: record.updated_at,
        tasks: counts,
        warnings: record.spec.warnings(),
        rollout,
        last_rollout: None,
        pending_reason,
    }
}
