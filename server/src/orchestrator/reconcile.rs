//! What a service needs done, decided from plain data: the desired slots
//! (replicated) or nodes (global), the tasks that exist, and the nodes.
//! Sorts live tasks into keep or stop, fills empty slots by the restart
//! policy, places what it creates, trims old history. Writes nothing: it
//! returns a plan that `apply` persists in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use shoal_proto::{
    auth::Millis,
    node::{Availability, Node},
    service::{DesiredState, Mode, RestartCondition, ServiceSpec, Task, TaskState},
};

use super::scheduler::{Demand, Scheduler, Unplaceable};
use crate::store::{TaskRecord, TaskWrite};

/// Ended tasks kept per slot, as Swarm's default task history.
pub const HISTORY_PER_SLOT: usize = 5;

/// The service as it is now.
pub struct Desired<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub revision: u64,
    pub spec: &'a ServiceSpec,
    pub deleted: bool,
}

/// The rest of the cluster.
pub struct Cluster<'a> {
    /// Every node, with its live status.
    pub nodes: &'a [Node],
    /// Nodes down for longer than the grace: their tasks are moved.
    pub lost: &'a HashSet<String>,
    /// Tasks of every service that hold a place on a node.
    pub placed: &'a [TaskRecord],
    pub now: Millis,
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub writes: Vec<TaskWrite>,
    /// When to look again (a restart delay runs out).
    pub wake_at: Option<Millis>,
    /// A deleted service with nothing left running: forget it.
    pub purge: bool,
}

/// Where a task belongs: a replica slot, or a node for global services.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Slot(u64),
    Node(String),
}

fn key_of(task: &Task) -> Option<Key> {
    match (task.slot, &task.node_id) {
        (Some(slot), _) => Some(Key::Slot(slot)),
        (None, Some(node)) => Some(Key::Node(node.clone())),
        (None, None) => None,
    }
}

fn is_live(task: &Task) -> bool {
    task.desired_state == DesiredState::Running && !task.state.is_terminal()
}

pub fn reconcile(
    service: &Desired,
    tasks: &[TaskRecord],
    cluster: &Cluster,
    new_id: &mut dyn FnMut() -> String,
) -> Plan {
    let mut plan = Plan::default();
    let nodes: HashMap<&str, &Node> = cluster.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let demand = Demand::of(service.id, service.spec);
    // Tasks stopped by this plan no longer hold their place.
    let stopping = stop_what_must_go(service, tasks, &nodes, cluster.lost, &demand, &mut plan);
    let placed: Vec<TaskRecord> = cluster
        .placed
        .iter()
        .filter(|r| !stopping.contains(&r.task.id))
        .cloned()
        .collect();
    let mut scheduler = Scheduler::new(cluster.nodes, &placed);

    let mut by_key: BTreeMap<Key, Vec<&TaskRecord>> = BTreeMap::new();
    for record in tasks {
        if let Some(key) = key_of(&record.task) {
            by_key.entry(key).or_default().push(record);
        }
    }
    let wanted: Vec<Key> = if service.deleted {
        Vec::new()
    } else {
        match service.spec.mode {
            Mode::Replicated => (1..=service.spec.replica_count().unwrap_or(0))
                .map(Key::Slot)
                .collect(),
            Mode::Global => cluster
                .nodes
                .iter()
                .filter(|n| Scheduler::belongs(&demand, n))
                .map(|n| Key::Node(n.id.clone()))
                .collect(),
        }
    };
    for key in wanted {
        let history = by_key.get(&key).map(Vec::as_slice).unwrap_or_default();
        let live = history
            .iter()
            .find(|r| is_live(&r.task) && !stopping.contains(&r.task.id));
        match live {
            Some(record) if record.task.state == TaskState::Pending => {
                place_pending(&record.task, &key, &nodes, &demand, &mut scheduler, &mut plan);
            }
            Some(_) => {}
            None => {
                if let Some(wait_until) = restart_wait(service.spec, history, &stopping, cluster.now) {
                    match wait_until {
                        Wait::Never => {}
                        Wait::Until(at) => {
                            plan.wake_at = Some(plan.wake_at.map_or(at, |w| w.min(at)));
                        }
                    }
                    continue;
                }
                let record = new_task(
                    service,
                    &key,
                    &nodes,
                    &demand,
                    &mut scheduler,
                    cluster.now,
                    new_id(),
                );
                plan.writes.push(TaskWrite::Insert(record));
            }
        }
    }
    trim_history(&by_key, &mut plan);
    plan.purge = service.deleted
        && tasks
            .iter()
            .all(|r| r.task.state.is_terminal() || stopping_unstarted(r, &stopping));
    plan
}

/// A task that never reached a node ends the moment it is stopped.
fn stopping_unstarted(record: &TaskRecord, stopping: &HashSet<String>) -> bool {
    stopping.contains(&record.task.id) && record.task.state <= TaskState::Pending
}

/// Stops or orphans the live tasks that must not stay; returns their ids.
fn stop_what_must_go(
    service: &Desired,
    tasks: &[TaskRecord],
    nodes: &HashMap<&str, &Node>,
    lost: &HashSet<String>,
    demand: &Demand,
    plan: &mut Plan,
) -> HashSet<String> {
    let replicas = service.spec.replica_count();
    let mut stopping = HashSet::new();
    let mut seen_keys = HashSet::new();
    for record in tasks.iter().rev() {
        let task = &record.task;
        if !is_live(task) {
            continue;
        }
        let node = task.node_id.as_deref().map(|id| (id, nodes.get(id)));
        let write = |message: String| TaskWrite::Shutdown {
            id: task.id.clone(),
            message,
        };
        let change = match node {
            Some((_, None)) => Some(TaskWrite::Orphan {
                id: task.id.clone(),
                message: "its node was removed from the cluster".into(),
            }),
            _ if service.deleted => match node {
                Some((id, _)) if lost.contains(id) => Some(TaskWrite::Orphan {
                    id: task.id.clone(),
                    message: "service deleted while its node was down".into(),
                }),
                _ => Some(write("service deleted".into())),
            },
            _ if replicas.is_some_and(|n| task.slot.is_some_and(|slot| slot > n)) => Some(write(format!(
                "scaled down to {} replicas",
                replicas.unwrap_or(0)
            ))),
            // Two live tasks for one slot or node (a server that crashed
            // half-way through a plan): the newest stays.
            _ if key_of(task).is_some_and(|key| !seen_keys.insert(key)) => {
                Some(write("a newer task took over its slot".into()))
            }
            Some((id, Some(node))) if lost.contains(id) => Some(write(format!(
                "node {} is down; moved to another node",
                node.hostname
            ))),
            Some((_, Some(node))) if node.availability == Availability::Drain => {
                Some(write(format!("node {} is drained", node.hostname)))
            }
            Some((_, Some(node))) if service.spec.mode == Mode::Global && !global_keeps(demand, node) => {
                Some(write(format!(
                    "node {} no longer matches the service's constraints",
                    node.hostname
                )))
            }
            _ if task.revision != service.revision => {
                Some(write(format!("replaced by revision {}", service.revision)))
            }
            _ => None,
        };
        if let Some(change) = change {
            stopping.insert(task.id.clone());
            plan.writes.push(change);
        }
    }
    stopping
}

/// A global task stays on a node that still matches the constraints, even
/// while the node is paused or not ready.
fn global_keeps(demand: &Demand, node: &Node) -> bool {
    demand.constraints.iter().all(|c| c.matches(node))
}

enum Wait {
    Never,
    Until(Millis),
}

/// Whether an empty slot waits (or stays empty) under the restart policy.
/// `None`: fill it now.
fn restart_wait(
    spec: &ServiceSpec,
    history: &[&TaskRecord],
    stopping: &HashSet<String>,
    now: Millis,
) -> Option<Wait> {
    let last = history
        .iter()
        .max_by_key(|r| (r.task.created_at, r.task.id.as_str()))?;
    let task = &last.task;
    // Moved, scaled or replaced by the orchestrator, or lost with its node:
    // not a failure of the task, so no policy applies.
    if stopping.contains(&task.id)
        || task.desired_state == DesiredState::Shutdown
        || task.state == TaskState::Orphaned
    {
        return None;
    }
    let policy = &spec.restart_policy;
    let restart = match policy.condition {
        RestartCondition::Any => true,
        RestartCondition::OnFailure => task.state != TaskState::Complete,
        RestartCondition::None => false,
    };
    if !restart {
        return Some(Wait::Never);
    }
    if policy.max_attempts > 0 {
        let window = i64::try_from(policy.window.as_millis()).unwrap_or(i64::MAX);
        let attempts = history
            .iter()
            .filter(|r| r.task.desired_state == DesiredState::Running)
            .filter(|r| {
                matches!(
                    r.task.state,
                    TaskState::Failed | TaskState::Complete | TaskState::Rejected
                )
            })
            .filter(|r| window == 0 || r.task.updated_at >= now.saturating_sub(window))
            .count() as u64;
        if attempts >= policy.max_attempts {
            return Some(Wait::Never);
        }
    }
    let ready_at = task
        .updated_at
        .saturating_add(i64::try_from(policy.delay.as_millis()).unwrap_or(i64::MAX));
    (now < ready_at).then_some(Wait::Until(ready_at))
}

fn new_task<'a>(
    service: &Desired,
    key: &Key,
    nodes: &HashMap<&str, &'a Node>,
    demand: &Demand,
    scheduler: &mut Scheduler<'a>,
    now: Millis,
    id: String,
) -> TaskRecord {
    let (slot, node_id, state, message) = match key {
        Key::Slot(slot) => match scheduler.place(demand) {
            Ok(node) => (
                Some(*slot),
                Some(node.id.clone()),
                TaskState::Assigned,
                scheduled_on(node),
            ),
            Err(Unplaceable(why)) => (Some(*slot), None, TaskState::Pending, why),
        },
        Key::Node(node_id) => {
            let node = nodes[node_id.as_str()];
            match scheduler.fits_on(demand, node) {
                Ok(()) => {
                    scheduler.place_on(demand, node);
                    (
                        None,
                        Some(node_id.clone()),
                        TaskState::Assigned,
                        scheduled_on(node),
                    )
                }
                Err(Unplaceable(why)) => (None, Some(node_id.clone()), TaskState::Pending, why),
            }
        }
    };
    TaskRecord {
        task: Task {
            id,
            service_id: service.id.to_owned(),
            service_name: service.name.to_owned(),
            slot,
            node_id,
            revision: service.revision,
            desired_state: DesiredState::Running,
            state,
            message,
            error: None,
            container_id: None,
            exit_code: None,
            healthy: None,
            ports: Vec::new(),
            created_at: now,
            updated_at: now,
        },
        reserved_nano_cpus: demand.nano_cpus,
        reserved_memory: demand.memory,
        host_ports: demand.host_ports.clone(),
    }
}

fn place_pending<'a>(
    task: &Task,
    key: &Key,
    nodes: &HashMap<&str, &'a Node>,
    demand: &Demand,
    scheduler: &mut Scheduler<'a>,
    plan: &mut Plan,
) {
    let placed = match key {
        Key::Slot(_) => scheduler.place(demand),
        Key::Node(node_id) => {
            let node = nodes[node_id.as_str()];
            scheduler.fits_on(demand, node).map(|()| {
                scheduler.place_on(demand, node);
                node
            })
        }
    };
    plan.writes.push(match placed {
        Ok(node) => TaskWrite::Assign {
            id: task.id.clone(),
            node_id: node.id.clone(),
            message: scheduled_on(node),
        },
        Err(Unplaceable(message)) => TaskWrite::StillPending {
            id: task.id.clone(),
            message,
        },
    });
}

fn scheduled_on(node: &Node) -> String {
    format!("scheduled on {}", node.hostname)
}

/// Keeps the newest ended tasks of each slot; deletes older ones.
fn trim_history(by_key: &BTreeMap<Key, Vec<&TaskRecord>>, plan: &mut Plan) {
    for history in by_key.values() {
        let mut ended: Vec<&&TaskRecord> = history.iter().filter(|r| r.task.state.is_terminal()).collect();
        ended.sort_by_key(|r| std::cmp::Reverse((r.task.created_at, r.task.id.clone())));
        for record in ended.into_iter().skip(HISTORY_PER_SLOT) {
            plan.writes.push(TaskWrite::Delete {
                id: record.task.id.clone(),
            });
        }
    }
}
