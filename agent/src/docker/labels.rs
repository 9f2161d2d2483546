//! The labels on every container the agent makes: they tie a container to
//! its task and node, so that an agent after a restart adopts what runs and
//! removes what no longer belongs, and agents sharing an engine each see
//! only their own containers.

use std::collections::HashMap;

use shoal_proto::wire::Assignment;

pub const SERVICE_ID: &str = "shoal.service.id";
pub const SERVICE_NAME: &str = "shoal.service.name";
pub const TASK_ID: &str = "shoal.task.id";
/// Empty for a global service's task.
pub const SLOT: &str = "shoal.slot";
pub const REVISION: &str = "shoal.revision";
pub const NODE_ID: &str = "shoal.node.id";
/// The task's service networks, joined by commas (names never hold one);
/// only on containers that are on a network, so that the engine can list
/// just those for the agent to serve.
pub const NETWORKS: &str = "shoal.networks";

pub fn labels(assignment: &Assignment, node_id: &str) -> HashMap<String, String> {
    let slot = assignment.slot.map(|slot| slot.to_string()).unwrap_or_default();
    let networks = &assignment.container.networks;
    let networks = (!networks.is_empty()).then(|| (NETWORKS, networks.join(",")));
    [
        (SERVICE_ID, assignment.service_id.clone()),
        (SERVICE_NAME, assignment.service_name.clone()),
        (TASK_ID, assignment.task_id.clone()),
        (SLOT, slot),
        (REVISION, assignment.revision.to_string()),
        (NODE_ID, node_id.to_owned()),
    ]
    .into_iter()
    .chain(networks)
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

/// The networks a container's [`NETWORKS`] label names.
pub fn networks(label: &str) -> Vec<String> {
    label
        .split(',')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An engine filter matching a label's value.
pub fn filter(key: &str, value: &str) -> String {
    format!("{key}={value}")
}
