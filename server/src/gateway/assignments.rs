//! What a node should run, read from the store for its session to send.

use std::collections::HashMap;

use shoal_proto::{
    service::{DesiredState, ServiceSpec, TaskState},
    wire::{Assignment, ContainerSpec},
};

use crate::ctx::Ctx;
use crate::store::StoreError;

/// The tasks a node should know about: placed on it and not ended. Pending
/// tasks wait for the scheduler, not for the node. A task the routing mesh
/// is still draining stays wanted running until the drain is done.
pub async fn of_node(ctx: &Ctx, node_id: &str) -> Result<Vec<Assignment>, StoreError> {
    let mut specs: HashMap<(String, u64), Option<ServiceSpec>> = HashMap::new();
    let mut set = Vec::new();
    for record in ctx.store.node_assignments(node_id).await? {
        let task = record.task;
        if task.state < TaskState::Assigned {
            continue;
        }
        let key = (task.service_id.clone(), task.revision);
        if !specs.contains_key(&key) {
            let spec = ctx
                .store
                .revision(&task.service_id, task.revision)
                .await?
                .map(|r| r.spec);
            specs.insert(key.clone(), spec);
        }
        let Some(spec) = &specs[&key] else {
            continue;
        };
        let desired = if task.desired_state == DesiredState::Shutdown && ctx.ingress.holds(&task.id) {
            DesiredState::Running
        } else {
            task.desired_state
        };
        set.push(Assignment {
            task_id: task.id,
            service_id: task.service_id,
            service_name: task.service_name,
            slot: task.slot,
            revision: task.revision,
            desired,
            container: ContainerSpec::of(spec),
        });
    }
    Ok(set)
}
