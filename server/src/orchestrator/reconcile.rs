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
                plan.writes.push(TaskWrite::Insert(Box::new(record)));
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shoal_proto::node::{NodeRole, NodeStatus};

    use super::*;
    use crate::orchestrator::testkit::{node, spec, workers};

    struct World {
        spec: ServiceSpec,
        revision: u64,
        deleted: bool,
        nodes: Vec<Node>,
        lost: HashSet<String>,
        tasks: Vec<TaskRecord>,
        now: Millis,
        next: u32,
    }

    impl World {
        fn new(spec_json: serde_json::Value, nodes: Vec<Node>) -> Self {
            Self {
                spec: spec(spec_json),
                revision: 1,
                deleted: false,
                nodes,
                lost: HashSet::new(),
                tasks: Vec::new(),
                now: 1_000_000,
                next: 0,
            }
        }

        /// One orchestrator pass, applied to the in-memory tasks the way the
        /// store applies it.
        fn pass(&mut self) -> Plan {
            let placed: Vec<TaskRecord> = self
                .tasks
                .iter()
                .filter(|r| r.task.node_id.is_some() && !r.task.state.is_terminal())
                .cloned()
                .collect();
            let desired = Desired {
                id: "svc",
                name: "web",
                revision: self.revision,
                spec: &self.spec,
                deleted: self.deleted,
            };
            let cluster = Cluster {
                nodes: &self.nodes,
                lost: &self.lost,
                placed: &placed,
                now: self.now,
            };
            let mut next = self.next;
            let plan = reconcile(&desired, &self.tasks, &cluster, &mut || {
                next += 1;
                format!("t{next:03}")
            });
            self.next = next;
            for write in &plan.writes {
                self.apply(write);
            }
            plan
        }

        fn apply(&mut self, write: &TaskWrite) {
            let find = |tasks: &mut Vec<TaskRecord>, id: &str| -> usize {
                tasks.iter().position(|r| r.task.id == id).unwrap()
            };
            match write {
                TaskWrite::Insert(record) => self.tasks.push((**record).clone()),
                TaskWrite::Assign { id, node_id, message } => {
                    let i = find(&mut self.tasks, id);
                    let task = &mut self.tasks[i].task;
                    task.node_id = Some(node_id.clone());
                    task.state = TaskState::Assigned;
                    task.message = message.clone();
                }
                TaskWrite::StillPending { id, message } => {
                    let i = find(&mut self.tasks, id);
                    self.tasks[i].task.message = message.clone();
                }
                TaskWrite::Shutdown { id, message } => {
                    let i = find(&mut self.tasks, id);
                    let task = &mut self.tasks[i].task;
                    task.desired_state = DesiredState::Shutdown;
                    if task.state <= TaskState::Pending {
                        task.state = TaskState::Shutdown;
                    }
                    task.message = message.clone();
                }
                TaskWrite::Orphan { id, message } => {
                    let i = find(&mut self.tasks, id);
                    let task = &mut self.tasks[i].task;
                    task.desired_state = DesiredState::Shutdown;
                    task.state = TaskState::Orphaned;
                    task.message = message.clone();
                }
                TaskWrite::Delete { id } => self.tasks.retain(|r| &r.task.id != id),
            }
        }

        /// Every live task as the node would report it: running, or shut
        /// down when asked to.
        fn nodes_report(&mut self) {
            for record in &mut self.tasks {
                let task = &mut record.task;
                if task.state.is_terminal() || task.state == TaskState::Pending {
                    continue;
                }
                task.state = match task.desired_state {
                    DesiredState::Running => TaskState::Running,
                    DesiredState::Shutdown => TaskState::Shutdown,
                };
                task.updated_at = self.now;
            }
        }

        fn settle(&mut self) {
            for _ in 0..5 {
                self.pass();
                self.nodes_report();
            }
        }

        fn live(&self) -> Vec<&Task> {
            self.tasks
                .iter()
                .map(|r| &r.task)
                .filter(|t| is_live(t))
                .collect()
        }

        fn per_node(&self) -> BTreeMap<String, usize> {
            let mut counts = BTreeMap::new();
            for task in self.live() {
                *counts
                    .entry(task.node_id.clone().unwrap_or_default())
                    .or_default() += 1;
            }
            counts
        }

        fn slots(&self) -> Vec<u64> {
            let mut slots: Vec<u64> = self.live().iter().filter_map(|t| t.slot).collect();
            slots.sort();
            slots
        }
    }

    fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn replicated_service_fills_its_slots_spread_over_workers() {
        let mut nodes = workers(3);
        nodes.push(node("m1", NodeRole::Manager));
        let mut world = World::new(
            json!({"name": "web", "image": "x", "replicas": 6, "constraints": ["node.role!=manager"]}),
            nodes,
        );
        world.settle();
        assert_eq!(world.slots(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(world.per_node(), counts(&[("w1", 2), ("w2", 2), ("w3", 2)]));
        // A settled service needs nothing more.
        assert_eq!(world.pass(), Plan::default());
    }

    #[test]
    fn scaling_adds_slots_and_removes_the_highest() {
        let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 6}), workers(3));
        world.settle();
        world.spec.replicas = Some(9);
        world.settle();
        assert_eq!(world.slots(), (1..=9).collect::<Vec<_>>());
        world.spec.replicas = Some(2);
        world.settle();
        assert_eq!(world.slots(), [1, 2]);
        let stopped = world
            .tasks
            .iter()
            .filter(|r| r.task.state == TaskState::Shutdown)
            .count();
        assert_eq!(stopped, 7);
    }

    #[test]
    fn a_drained_node_loses_its_tasks_to_the_others() {
        let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 6}), workers(3));
        world.settle();
        world.nodes[0].availability = Availability::Drain;
        world.settle();
        assert_eq!(world.per_node(), counts(&[("w2", 3), ("w3", 3)]));
        assert_eq!(world.slots(), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn tasks_move_off_a_node_only_once_it_is_lost() {
        let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 4}), workers(2));
        world.settle();
        world.nodes[0].status = NodeStatus::Down;
        assert!(world.pass().writes.is_empty(), "a node just down keeps its tasks");
        world.lost.insert("w1".into());
        world.pass();
        assert_eq!(world.per_node(), counts(&[("w2", 4)]));
    }

    #[test]
    fn a_removed_nodes_tasks_are_orphaned_and_replaced() {
        let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 2}), workers(2));
        world.settle();
        world.nodes.remove(0);
        world.settle();
        assert_eq!(world.per_node(), counts(&[("w2", 2)]));
        assert_eq!(
            world
                .tasks
                .iter()
                .filter(|r| r.task.state == TaskState::Orphaned)
                .count(),
            1
        );
    }

    #[test]
    fn a_failed_task_is_replaced_after_the_restart_delay() {
        let mut world = World::new(
            json!({"name": "web", "image": "x", "restart_policy": {"delay": "5s"}}),
            workers(1),
        );
        world.settle();
        world.tasks[0].task.state = TaskState::Failed;
        world.tasks[0].task.updated_at = world.now;
        let plan = world.pass();
        assert!(plan.writes.is_empty());
        assert_eq!(plan.wake_at, Some(world.now + 5000));
        world.now += 5000;
        world.pass();
        assert_eq!(world.live().len(), 1);
        assert_eq!(world.live()[0].slot, Some(1));
    }

    #[test]
    fn restart_policy_conditions_and_attempts_are_honoured() {
        let mut world = World::new(
            json!({"name": "job", "image": "x", "restart_policy": {"condition": "on-failure", "delay": "0s", "max_attempts": 2}}),
            workers(1),
        );
        world.settle();
        // Two failures use up the attempts; the slot then stays empty.
        for _ in 0..2 {
            let live = world.live()[0].id.clone();
            let record = world.tasks.iter_mut().find(|r| r.task.id == live).unwrap();
            record.task.state = TaskState::Failed;
            world.settle();
        }
        assert!(world.live().is_empty());
        assert_eq!(world.pass().wake_at, None);

        let mut world = World::new(
            json!({"name": "job", "image": "x", "restart_policy": {"condition": "on-failure", "delay": "0s"}}),
            workers(1),
        );
        world.settle();
        world.tasks[0].task.state = TaskState::Complete;
        world.settle();
        assert!(
            world.live().is_empty(),
            "a completed task is not restarted on-failure"
        );
    }

    #[test]
    fn an_impossible_constraint_leaves_tasks_pending_with_the_reason() {
        let mut world = World::new(
            json!({"name": "web", "image": "x", "replicas": 2, "constraints": ["node.labels.zone==z"]}),
            workers(3),
        );
        world.settle();
        let pending: Vec<&Task> = world
            .live()
            .into_iter()
            .filter(|t| t.state == TaskState::Pending)
            .collect();
        assert_eq!(pending.len(), 2);
        assert_eq!(
            pending[0].message,
            "no suitable node: constraint node.labels.zone==z: 0 of 3 ready nodes match"
        );
        // A node that gains the label takes them.
        world.nodes[1].labels.insert("zone".into(), "z".into());
        world.settle();
        assert_eq!(world.per_node(), counts(&[("w2", 2)]));
    }

    #[test]
    fn a_global_service_runs_once_per_eligible_node_including_new_ones() {
        let mut nodes = workers(2);
        nodes.push(node("m1", NodeRole::Manager));
        let mut world = World::new(
            json!({"name": "agent", "image": "x", "mode": "global", "constraints": ["node.role==worker"]}),
            nodes,
        );
        world.settle();
        assert_eq!(world.per_node(), counts(&[("w1", 1), ("w2", 1)]));
        world.nodes.push(node("w3", NodeRole::Worker));
        world.settle();
        assert_eq!(world.per_node(), counts(&[("w1", 1), ("w2", 1), ("w3", 1)]));
        world.nodes[0].availability = Availability::Drain;
        world.settle();
        assert_eq!(world.per_node(), counts(&[("w2", 1), ("w3", 1)]));
    }

    #[test]
    fn a_new_revision_replaces_every_task() {
        let mut world = World::new(json!({"name": "web", "image": "x:1", "replicas": 3}), workers(3));
        world.settle();
        world.spec.image = "x:2".into();
        world.revision = 2;
        world.settle();
        assert!(world.live().iter().all(|t| t.revision == 2));
        assert_eq!(world.slots(), [1, 2, 3]);
    }

    #[test]
    fn two_live_tasks_in_one_slot_keep_the_newest() {
        let mut world = World::new(json!({"name": "web", "image": "x"}), workers(1));
        world.settle();
        let mut twin = world.tasks[0].clone();
        twin.task.id = "twin".into();
        twin.task.created_at += 1;
        world.tasks.push(twin);
        world.settle();
        assert_eq!(world.live().len(), 1);
        assert_eq!(world.live()[0].id, "twin");
    }

    #[test]
    fn history_is_trimmed_per_slot() {
        let mut world = World::new(
            json!({"name": "web", "image": "x", "restart_policy": {"delay": "0s"}}),
            workers(1),
        );
        world.settle();
        for _ in 0..8 {
            let live = world.live()[0].id.clone();
            world
                .tasks
                .iter_mut()
                .find(|r| r.task.id == live)
                .unwrap()
                .task
                .state = TaskState::Failed;
            world.now += 1;
            world.settle();
        }
        let ended = world.tasks.iter().filter(|r| r.task.state.is_terminal()).count();
        assert_eq!(ended, HISTORY_PER_SLOT);
    }

    #[test]
    fn a_deleted_service_stops_everything_then_is_purged() {
        let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 2}), workers(2));
        world.settle();
        world.deleted = true;
        let plan = world.pass();
        assert!(!plan.purge, "tasks are still stopping");
        world.nodes_report();
        assert!(world.pass().purge);
    }
}
