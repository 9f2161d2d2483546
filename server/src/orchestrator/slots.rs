//! A service's slots, from plain data: what the service wants (replica
//! slots, or one place per eligible node for a global service), which of its
//! tasks belong where, and which of them run an old spec. Reconcile and the
//! updater both reason in these terms.

use std::collections::{BTreeMap, HashMap, HashSet};

use shoal_proto::{
    node::Node,
    service::{DesiredState, Mode, Rollout, ServiceSpec, Task, UpdateConfig},
    wire::ContainerSpec,
};

use super::scheduler::{Demand, Scheduler};
use crate::store::{ServiceRecord, TaskRecord};

/// The service as it is now.
pub struct Desired<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub revision: u64,
    pub spec: &'a ServiceSpec,
    pub deleted: bool,
    /// The specs of the revisions the service's tasks run.
    pub specs: &'a HashMap<u64, ServiceSpec>,
}

impl<'a> Desired<'a> {
    pub fn of(service: &'a ServiceRecord, specs: &'a HashMap<u64, ServiceSpec>) -> Self {
        Self {
            id: &service.id,
            name: &service.name,
            revision: service.revision,
            spec: &service.spec,
            deleted: service.deleted_at.is_some(),
            specs,
        }
    }
}

/// The rollout in progress, if any.
pub struct Rolling<'a> {
    pub rollout: &'a Rollout,
    /// The update config, or the rollback config while rolling back.
    pub config: &'a UpdateConfig,
    pub failures: &'a HashSet<String>,
}

/// One slot (or, for global services, one node) as the updater sees it.
#[derive(Debug)]
pub struct Slot<'a> {
    pub key: Key,
    /// Live tasks whose spec differs from the target.
    pub dirty: Vec<&'a TaskRecord>,
    /// The live task on the target spec.
    pub clean: Option<&'a TaskRecord>,
    /// Every task of the slot, newest first.
    pub history: Vec<&'a TaskRecord>,
}

/// Where a task belongs: a replica slot, or a node for global services.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Slot(u64),
    Node(String),
}

pub fn key_of(task: &Task) -> Option<Key> {
    match (task.slot, &task.node_id) {
        (Some(slot), _) => Some(Key::Slot(slot)),
        (None, Some(node)) => Some(Key::Node(node.clone())),
        (None, None) => None,
    }
}

pub(super) fn is_live(task: &Task) -> bool {
    task.desired_state == DesiredState::Running && !task.state.is_terminal()
}

/// Whether a task runs something other than the service's current spec: a
/// different container, or a node the current constraints rule out. Scaling
/// alone changes neither, so it replaces nothing.
pub fn is_dirty(task: &Task, service: &Desired, nodes: &HashMap<&str, &Node>) -> bool {
    if task.revision == service.revision {
        return false;
    }
    let Some(spec) = service.specs.get(&task.revision) else {
        return true;
    };
    if ContainerSpec::of(spec) != ContainerSpec::of(service.spec) {
        return true;
    }
    let node = task.node_id.as_deref().and_then(|id| nodes.get(id));
    node.is_some_and(|node| !service.spec.constraints().iter().all(|c| c.matches(node)))
}

pub fn by_key(tasks: &[TaskRecord]) -> BTreeMap<Key, Vec<&TaskRecord>> {
    let mut by_key: BTreeMap<Key, Vec<&TaskRecord>> = BTreeMap::new();
    for record in tasks {
        if let Some(key) = key_of(&record.task) {
            by_key.entry(key).or_default().push(record);
        }
    }
    for history in by_key.values_mut() {
        history.sort_by(|a, b| (b.task.created_at, &b.task.id).cmp(&(a.task.created_at, &a.task.id)));
    }
    by_key
}

/// The slots (or nodes) the service wants, each with its tasks sorted into
/// old and current.
pub fn slots<'a>(
    service: &Desired,
    nodes: &[Node],
    by_key: &BTreeMap<Key, Vec<&'a TaskRecord>>,
    stopping: &HashSet<String>,
    demand: &Demand,
    dirty: &dyn Fn(&Task) -> bool,
) -> Vec<Slot<'a>> {
    let wanted: Vec<Key> = if service.deleted {
        Vec::new()
    } else {
        match service.spec.mode {
            Mode::Replicated => (1..=service.spec.replica_count().unwrap_or(0))
                .map(Key::Slot)
                .collect(),
            Mode::Global => nodes
                .iter()
                .filter(|n| Scheduler::belongs(demand, n))
                .map(|n| Key::Node(n.id.clone()))
                .collect(),
        }
    };
    wanted
        .into_iter()
        .map(|key| {
            let history = by_key.get(&key).cloned().unwrap_or_default();
            let live: Vec<&TaskRecord> = history
                .iter()
                .copied()
                .filter(|r| is_live(&r.task) && !stopping.contains(&r.task.id))
                .collect();
            Slot {
                key,
                dirty: live.iter().copied().filter(|r| dirty(&r.task)).collect(),
                clean: live.iter().copied().find(|r| !dirty(&r.task)),
                history,
            }
        })
        .collect()
}
