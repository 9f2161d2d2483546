//! The dispatcher: what each node should run, and a nudge to its session
//! when that changes. The store is the truth; a session that is nudged (or
//! connects) reads its node's set and sends the difference, so nothing is
//! lost when a nudge coalesces with another.

use std::{collections::HashMap, sync::Mutex};

use shoal_proto::{
    service::{DesiredState, ServiceSpec, TaskState},
    wire::{Assignment, ContainerSpec},
};
use tokio::sync::watch;

use crate::{ops::Ctx, orchestrator::scheduler::nano_cpus};

#[derive(Default)]
pub struct Dispatcher {
    nodes: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Dispatcher {
    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        self.nodes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Nudges for one node; subscribe before reading the set, so a change
    /// made in between is not missed.
    pub fn subscribe(&self, node_id: &str) -> watch::Receiver<u64> {
        self.nodes()
            .entry(node_id.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    pub fn notify(&self, node_id: &str) {
        if let Some(sender) = self.nodes().get(node_id) {
            sender.send_modify(|generation| *generation += 1);
        }
    }
}

/// The tasks a node should know about: placed on it and not ended. Pending
/// tasks wait for the scheduler, not for the node. A task the routing mesh
/// is still draining stays wanted running until the drain is done.
pub async fn assignments(ctx: &Ctx, node_id: &str) -> Result<Vec<Assignment>, sqlx::Error> {
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
            container: container_spec(spec),
        });
    }
    Ok(set)
}

pub fn container_spec(spec: &ServiceSpec) -> ContainerSpec {
    let limits = &spec.resources.limits;
    ContainerSpec {
        image: spec.image.clone(),
        entrypoint: spec.entrypoint.clone(),
        command: spec.command.clone(),
        environment: spec.environment.clone(),
        ports: spec.ports.clone(),
        healthcheck: spec.healthcheck.clone(),
        probe: spec.probe.clone(),
        nano_cpus: limits.cpus.map(|cpus| nano_cpus(Some(cpus))),
        memory_bytes: limits
            .memory
            .map(|size| i64::try_from(size.0).unwrap_or(i64::MAX)),
        stop_grace_period: spec.stop_grace_period,
        pull_policy: spec.pull_policy,
        registry_auth: spec.registry_auth.clone(),
    }
}

/// What to send a node that was last sent `sent` and should now have
/// `current`: the new or changed assignments and the ids that left.
pub fn changes(sent: &HashMap<String, Assignment>, current: &[Assignment]) -> (Vec<Assignment>, Vec<String>) {
    let upsert = current
        .iter()
        .filter(|a| sent.get(&a.task_id) != Some(a))
        .cloned()
        .collect();
    let remaining: std::collections::HashSet<&str> = current.iter().map(|a| a.task_id.as_str()).collect();
    let mut remove: Vec<String> = sent
        .keys()
        .filter(|id| !remaining.contains(id.as_str()))
        .cloned()
        .collect();
    remove.sort();
    (upsert, remove)
}
