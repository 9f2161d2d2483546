//! What a service needs done, decided from plain data: the desired slots
//! (replicated) or nodes (global), the tasks that exist, and the nodes.
//! Sorts live tasks into keep or stop, lets the updater pick the slots a
//! rollout replaces next, fills empty slots by the restart policy, places
//! what it creates, trims old history. Writes nothing: it returns a plan
//! that `apply` persists in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use shoal_proto::{
    auth::Millis,
    node::{Availability, Node},
    service::{
        DesiredState, Mode, RestartCondition, Rollout, ServiceSpec, SlotProgress, Task, TaskBrief, TaskState,
        UpdateConfig, UpdateOrder,
    },
    wire::ContainerSpec,
};

use super::{
    scheduler::{Demand, Scheduler, Unplaceable},
    updater::{self, Decision, Slot},
};
use crate::store::{ServiceRecord, TaskRecord, TaskWrite};

/// Ended tasks kept per slot, as Swarm's default task history.
pub const HISTORY_PER_SLOT: usize = 5;

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
    /// When to look again (a restart delay or a monitor window runs out).
    pub wake_at: Option<Millis>,
    /// A deleted service with nothing left running: forget it.
    pub purge: bool,
    /// What the updater decided, when a rollout is in progress.
    pub rollout: Option<Decision>,
}

/// Where a task belongs: a replica slot, or a node for global services.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
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

pub(super) fn is_live(task: &Task) -> bool {
    task.desired_state == DesiredState::Running && !task.state.is_terminal()
}

/// Whether a task runs something other than the service's current spec: a
/// different container, or a node the current constraints rule out. Scaling
/// alone changes neither, so it replaces nothing.
fn is_dirty(task: &Task, service: &Desired, nodes: &HashMap<&str, &Node>) -> bool {
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

pub fn reconcile(
    service: &Desired,
    tasks: &[TaskRecord],
    cluster: &Cluster,
    rolling: Option<&Rolling>,
    new_id: &mut dyn FnMut() -> String,
) -> Plan {
    let mut plan = Plan::default();
    let nodes: HashMap<&str, &Node> = cluster.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let demand = Demand::of(service.id, service.spec);
    let dirty = |task: &Task| is_dirty(task, service, &nodes);
    // Tasks stopped by this plan no longer hold their place.
    let mut stopping = stop_what_must_go(service, tasks, &nodes, cluster.lost, &demand, &dirty, &mut plan);

    let by_key = by_key(tasks);
    let slots = slots(service, cluster.nodes, &by_key, &stopping, &demand, &dirty);

    let decision = rolling.map(|rolling| {
        updater::decide(&updater::Input {
            rollout: rolling.rollout,
            config: rolling.config,
            slots: &slots,
            failures: rolling.failures,
            now: cluster.now,
        })
    });
    // An old task goes once its replacement is ready: the updater says when
    // during a rollout; after one, any ready replacement will do.
    let retire: Vec<String> = match &decision {
        Some(decision) => decision.retire.clone(),
        None => slots
            .iter()
            .filter(|slot| slot.clean.is_some_and(|clean| clean.ready_since.is_some()))
            .flat_map(|slot| slot.dirty.iter().map(|r| r.task.id.clone()))
            .collect(),
    };
    for id in retire {
        plan.writes.push(TaskWrite::Shutdown {
            id: id.clone(),
            message: format!("replaced by a task of revision {}", service.revision),
        });
        stopping.insert(id);
    }
    let starting: HashSet<&Key> = decision.iter().flat_map(|d| d.start.iter()).collect();
    let order = rolling.map(|r| r.config.order);
    let active = rolling.is_some_and(|r| r.rollout.state.is_active());

    let placed: Vec<TaskRecord> = cluster
        .placed
        .iter()
        .filter(|r| !stopping.contains(&r.task.id))
        .cloned()
        .collect();
    let mut scheduler = Scheduler::new(cluster.nodes, &placed);
    for slot in &slots {
        let key = &slot.key;
        if starting.contains(key) {
            match order.unwrap_or_default() {
                UpdateOrder::StopFirst => {
                    for record in &slot.dirty {
                        plan.writes.push(TaskWrite::Shutdown {
                            id: record.task.id.clone(),
                            message: format!("updating to revision {}", service.revision),
                        });
                    }
                }
                UpdateOrder::StartFirst => {
                    plan.writes.push(new_task(
                        service,
                        key,
                        &nodes,
                        &demand,
                        &mut scheduler,
                        cluster.now,
                        new_id(),
                    ));
                }
            }
            continue;
        }
        match slot.clean {
            Some(record) if record.task.state == TaskState::Pending => {
                place_pending(&record.task, key, &nodes, &demand, &mut scheduler, &mut plan);
            }
            Some(_) => {}
            // Waiting for the rollout to reach it.
            None if !slot.dirty.is_empty() => {}
            None => {
                if active
                    && order == Some(UpdateOrder::StopFirst)
                    && old_still_stopping(&slot.history, &nodes, cluster.lost, &dirty)
                {
                    continue;
                }
                if let Some(wait_until) = restart_wait(service.spec, &slot.history, &stopping, cluster.now) {
                    if let Wait::Until(at) = wait_until {
                        plan.wake_at = Some(plan.wake_at.map_or(at, |w| w.min(at)));
                    }
                    continue;
                }
                plan.writes.push(new_task(
                    service,
                    key,
                    &nodes,
                    &demand,
                    &mut scheduler,
                    cluster.now,
                    new_id(),
                ));
            }
        }
    }
    trim_history(&by_key, &mut plan);
    plan.purge = service.deleted
        && tasks
            .iter()
            .all(|r| r.task.state.is_terminal() || stopping_unstarted(r, &stopping));
    if let Some(at) = decision.as_ref().and_then(|d| d.wake_at) {
        plan.wake_at = Some(plan.wake_at.map_or(at, |w| w.min(at)));
    }
    plan.rollout = decision;
    plan
}

fn by_key(tasks: &[TaskRecord]) -> BTreeMap<Key, Vec<&TaskRecord>> {
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
fn slots<'a>(
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

/// Where each slot stands in a rollout, for the console and the API.
pub fn progress(
    service: &Desired,
    tasks: &[TaskRecord],
    nodes: &[Node],
    rolling: &Rolling,
    now: Millis,
) -> Vec<SlotProgress> {
    let node_map: HashMap<&str, &Node> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let demand = Demand::of(service.id, service.spec);
    let dirty = |task: &Task| is_dirty(task, service, &node_map);
    let by_key = by_key(tasks);
    let slots = slots(service, nodes, &by_key, &HashSet::new(), &demand, &dirty);
    let input = updater::Input {
        rollout: rolling.rollout,
        config: rolling.config,
        slots: &slots,
        failures: rolling.failures,
        now,
    };
    let brief = |record: &TaskRecord| TaskBrief {
        id: record.task.id.clone(),
        revision: record.task.revision,
        state: record.task.state,
        healthy: record.task.healthy,
    };
    slots
        .iter()
        .map(|slot| SlotProgress {
            slot: match &slot.key {
                Key::Slot(slot) => Some(*slot),
                Key::Node(_) => None,
            },
            node_id: slot
                .clean
                .or(slot.dirty.first().copied())
                .and_then(|r| r.task.node_id.clone()),
            status: updater::slot_status(slot, &input),
            old_task: slot
                .dirty
                .first()
                .copied()
                .or_else(|| slot.history.iter().copied().find(|r| dirty(&r.task)))
                .map(brief),
            new_task: slot
                .clean
                .or_else(|| slot.history.iter().copied().find(|r| !dirty(&r.task)))
                .map(brief),
        })
        .collect()
}

/// stop-first: the slot's old task is stopping on a node that will report
/// it stopped; its replacement starts after that.
fn old_still_stopping(
    history: &[&TaskRecord],
    nodes: &HashMap<&str, &Node>,
    lost: &HashSet<String>,
    dirty: &dyn Fn(&Task) -> bool,
) -> bool {
    history.iter().any(|r| {
        let task = &r.task;
        task.desired_state == DesiredState::Shutdown
            && !task.state.is_terminal()
            && dirty(task)
            && task
                .node_id
                .as_deref()
                .is_some_and(|id| nodes.contains_key(id) && !lost.contains(id))
    })
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
    dirty: &dyn Fn(&Task) -> bool,
    plan: &mut Plan,
) -> HashSet<String> {
    let replicas = service.spec.replica_count();
    let mut stopping = HashSet::new();
    let mut seen = HashSet::new();
    let mut newest_first: Vec<&TaskRecord> = tasks.iter().collect();
    newest_first.sort_by(|a, b| (b.task.created_at, &b.task.id).cmp(&(a.task.created_at, &a.task.id)));
    for record in newest_first {
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
            // Two live tasks of one kind (old or current spec) in one slot,
            // as a server that crashed half-way through a plan leaves them:
            // the newest stays. One of each is a start-first update.
            _ if key_of(task).is_some_and(|key| !seen.insert((key, dirty(task)))) => {
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
) -> TaskWrite {
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
    TaskWrite::Insert(Box::new(TaskRecord {
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
        ready_since: None,
        health_starting: false,
        ever_unhealthy: false,
    }))
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
    use shoal_proto::{
        container::replaces_tasks,
        node::{NodeRole, NodeStatus},
    };

    use super::*;
    use crate::orchestrator::{
        testkit::{node, spec, workers},
        updater::Outcome,
    };
    use shoal_proto::service::RolloutState;

    struct World {
        spec: ServiceSpec,
        revision: u64,
        specs: HashMap<u64, ServiceSpec>,
        rollout: Option<Rollout>,
        failures: HashSet<String>,
        deleted: bool,
        nodes: Vec<Node>,
        lost: HashSet<String>,
        tasks: Vec<TaskRecord>,
        now: Millis,
        next: u32,
    }

    impl World {
        fn new(spec_json: serde_json::Value, nodes: Vec<Node>) -> Self {
            let spec = spec(spec_json);
            Self {
                specs: HashMap::from([(1, spec.clone())]),
                spec,
                revision: 1,
                rollout: None,
                failures: HashSet::new(),
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
                specs: &self.specs,
            };
            let config = self
                .rollout
                .as_ref()
                .and_then(|rollout| rollout.config(&self.specs));
            let rolling = match (&self.rollout, config) {
                (Some(rollout), Some(config)) if rollout.state.is_active() => Some(Rolling {
                    rollout,
                    config,
                    failures: &self.failures,
                }),
                _ => None,
            };
            let cluster = Cluster {
                nodes: &self.nodes,
                lost: &self.lost,
                placed: &placed,
                now: self.now,
            };
            let mut next = self.next;
            let plan = reconcile(&desired, &self.tasks, &cluster, rolling.as_ref(), &mut || {
                next += 1;
                format!("t{next:03}")
            });
            self.next = next;
            for write in &plan.writes {
                self.apply(write);
            }
            if let Some(decision) = &plan.rollout {
                self.follow(decision);
            }
            plan
        }

        /// A new spec, rolled out when it changes what the tasks run.
        fn change(&mut self, change: impl FnOnce(&mut ServiceSpec)) {
            let mut next = self.spec.clone();
            change(&mut next);
            self.revision += 1;
            self.specs.insert(self.revision, next.clone());
            if replaces_tasks(&self.spec, &next) {
                self.rollout = Some(Rollout {
                    id: format!("r{}", self.revision),
                    service_id: "svc".into(),
                    service_name: "web".into(),
                    from_revision: self.revision - 1,
                    to_revision: self.revision,
                    rollback_revision: None,
                    state: RolloutState::Updating,
                    reason: None,
                    trigger: "update".into(),
                    actor: "op".into(),
                    total: 0,
                    updated: 0,
                    failed: 0,
                    parallelism: 0,
                    order: UpdateOrder::StopFirst,
                    started_at: self.now,
                    phase_started_at: self.now,
                    updated_at: self.now,
                    ended_at: None,
                });
                self.failures.clear();
            }
            self.spec = next;
        }

        /// What `apply` does with the updater's decision.
        fn follow(&mut self, decision: &Decision) {
            self.failures
                .extend(decision.new_failures.iter().map(|(id, _)| id.clone()));
            let Some(rollout) = self.rollout.as_mut() else {
                return;
            };
            let rolling_back = rollout.state.is_rollback();
            match &decision.outcome {
                None => {}
                Some(Outcome::Completed) => {
                    rollout.state = if rolling_back {
                        RolloutState::RollbackCompleted
                    } else {
                        RolloutState::Completed
                    };
                }
                Some(Outcome::Pause(why)) => {
                    rollout.state = if rolling_back {
                        RolloutState::RollbackPaused
                    } else {
                        RolloutState::Paused
                    };
                    rollout.reason = Some(why.clone());
                }
                Some(Outcome::Fail(why)) => {
                    rollout.state = RolloutState::Failed;
                    rollout.reason = Some(why.clone());
                }
                Some(Outcome::Rollback(why)) => {
                    self.failures.clear();
                    rollout.state = RolloutState::RollbackStarted;
                    rollout.reason = Some(why.clone());
                    rollout.phase_started_at = self.now;
                    let old = self.specs[&rollout.from_revision].clone();
                    self.revision += 1;
                    rollout.rollback_revision = Some(self.revision);
                    self.specs.insert(self.revision, old.clone());
                    self.spec = old;
                }
            }
        }

        fn state(&self) -> Option<RolloutState> {
            self.rollout.as_ref().map(|r| r.state)
        }

        /// Every live task of the current spec's image.
        fn images(&self) -> BTreeMap<String, usize> {
            let mut images = BTreeMap::new();
            for task in self.live() {
                *images
                    .entry(self.specs[&task.revision].image.clone())
                    .or_default() += 1;
            }
            images
        }

        /// Running tasks, healthy or without a health check.
        fn serving(&self) -> usize {
            self.tasks
                .iter()
                .filter(|r| r.task.state == TaskState::Running && r.task.healthy != Some(false))
                .count()
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
        /// down when asked to. Images named `bad` never turn healthy.
        fn nodes_report(&mut self) {
            let now = self.now;
            for record in &mut self.tasks {
                let task = &mut record.task;
                if task.state.is_terminal() || task.state == TaskState::Pending {
                    continue;
                }
                let bad = self.specs[&task.revision].image.contains("bad");
                match task.desired_state {
                    DesiredState::Running if bad => {
                        task.state = TaskState::Running;
                        task.healthy = Some(false);
                        record.ever_unhealthy = true;
                        record.ready_since = None;
                    }
                    DesiredState::Running => {
                        task.state = TaskState::Running;
                        record.ready_since = record.ready_since.or(Some(now));
                    }
                    DesiredState::Shutdown => task.state = TaskState::Shutdown,
                }
                task.updated_at = now;
            }
        }

        /// Passes and reports, a second apart, until nothing changes; checks
        /// `invariant` after every pass.
        fn settle_checking(&mut self, invariant: impl Fn(&World)) {
            for _ in 0..60 {
                let plan = self.pass();
                invariant(self);
                self.nodes_report();
                invariant(self);
                self.now += 1000;
                let idle =
                    plan.writes.is_empty() && plan.rollout.as_ref().is_none_or(|d| d.outcome.is_none());
                if idle
                    && self
                        .rollout
                        .as_ref()
                        .is_none_or(|r| !r.state.is_active() || r.state.is_paused())
                {
                    let after = self.pass();
                    if after.writes.is_empty() {
                        return;
                    }
                }
            }
        }

        fn settle(&mut self) {
            self.settle_checking(|_| {});
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
    fn a_new_revision_is_rolled_out_and_scaling_replaces_nothing() {
        let mut world = World::new(json!({"name": "web", "image": "x:1", "replicas": 3}), workers(3));
        world.settle();
        world.change(|spec| spec.replicas = Some(4));
        assert!(world.rollout.is_none(), "scaling is not a rollout");
        world.settle();
        assert_eq!(world.images(), BTreeMap::from([("x:1".to_owned(), 4)]));
        world.change(|spec| spec.image = "x:2".into());
        world.settle();
        assert_eq!(world.state(), Some(RolloutState::Completed));
        assert_eq!(world.images(), BTreeMap::from([("x:2".to_owned(), 4)]));
        assert_eq!(world.slots(), [1, 2, 3, 4]);
    }

    fn six_replicas(update: serde_json::Value) -> World {
        let mut world = World::new(
            json!({"name": "web", "image": "v1", "replicas": 6, "update_config": update}),
            workers(3),
        );
        world.settle();
        world
    }

    #[test]
    fn stop_first_keeps_at_most_parallelism_slots_down() {
        let mut world = six_replicas(json!({"parallelism": 2, "monitor": "2s"}));
        world.change(|spec| spec.image = "v2".into());
        world.settle_checking(|w| assert!(w.serving() >= 4, "{} serving", w.serving()));
        assert_eq!(world.state(), Some(RolloutState::Completed));
        assert_eq!(world.images(), BTreeMap::from([("v2".to_owned(), 6)]));
    }

    #[test]
    fn start_first_never_drops_below_the_desired_count() {
        let mut world = six_replicas(json!({"parallelism": 2, "order": "start-first", "monitor": "2s"}));
        world.change(|spec| spec.image = "v2".into());
        world.settle_checking(|w| assert!(w.serving() >= 6, "{} serving", w.serving()));
        assert_eq!(world.state(), Some(RolloutState::Completed));
        assert_eq!(world.images(), BTreeMap::from([("v2".to_owned(), 6)]));
    }

    #[test]
    fn a_task_must_last_the_monitor_window_before_the_next_batch() {
        let mut world = six_replicas(json!({"parallelism": 3, "monitor": "10s"}));
        world.change(|spec| spec.image = "v2".into());
        // First batch: three old tasks stop, their slots refill with v2.
        for _ in 0..4 {
            world.pass();
            world.nodes_report();
            world.now += 1000;
        }
        assert_eq!(
            world.images(),
            BTreeMap::from([("v1".to_owned(), 3), ("v2".to_owned(), 3)])
        );
        // Nothing more moves until the new tasks have run for 10 s.
        for _ in 0..5 {
            world.pass();
            world.nodes_report();
            world.now += 1000;
            assert_eq!(world.images()["v1"], 3);
        }
        world.settle();
        assert_eq!(world.images(), BTreeMap::from([("v2".to_owned(), 6)]));
    }

    #[test]
    fn a_bad_version_pauses_with_the_reason() {
        let mut world = six_replicas(json!({"parallelism": 2, "monitor": "5s"}));
        world.change(|spec| spec.image = "bad".into());
        world.settle();
        assert_eq!(world.state(), Some(RolloutState::Paused));
        let reason = world.rollout.as_ref().unwrap().reason.clone().unwrap();
        assert!(
            reason.contains("turned unhealthy") && reason.contains("max_failure_ratio 0"),
            "{reason}"
        );
        assert_eq!(world.images()["v1"], 4, "no batch after the failing one");
    }

    #[test]
    fn a_bad_version_rolls_back_to_where_it_started() {
        let mut world = six_replicas(json!({"parallelism": 2, "failure_action": "rollback"}));
        world.change(|spec| spec.image = "bad".into());
        world.settle();
        assert_eq!(world.state(), Some(RolloutState::RollbackCompleted));
        assert_eq!(world.images(), BTreeMap::from([("v1".to_owned(), 6)]));
        assert_eq!(
            world.revision, 3,
            "the rollback is a new revision equal to the first"
        );
    }

    #[test]
    fn max_failure_ratio_tolerates_some_failures() {
        let mut world =
            six_replicas(json!({"parallelism": 6, "max_failure_ratio": 0.5, "failure_action": "pause"}));
        // Half the new tasks fail at once: at the ratio, not above it.
        world.change(|spec| spec.image = "v2".into());
        world.pass();
        world.nodes_report();
        world.pass();
        let v2: Vec<String> = world
            .live()
            .iter()
            .filter(|t| t.revision == 2)
            .map(|t| t.id.clone())
            .collect();
        for id in v2.iter().take(3) {
            let record = world.tasks.iter_mut().find(|r| &r.task.id == id).unwrap();
            record.task.state = TaskState::Failed;
        }
        world.settle();
        assert_eq!(world.state(), Some(RolloutState::Completed));
        assert_eq!(world.failures.len(), 3);
    }

    #[test]
    fn the_progress_deadline_ends_a_rollout_that_never_gets_healthy() {
        let mut world =
            six_replicas(json!({"parallelism": 6, "progress_deadline": "30s", "failure_action": "continue"}));
        world.change(|spec| spec.image = "v2".into());
        world.pass();
        // The new tasks start and stay "starting" for ever.
        world.now += 31_000;
        world.pass();
        assert_eq!(world.state(), Some(RolloutState::Failed));
        let reason = world.rollout.as_ref().unwrap().reason.clone().unwrap();
        assert!(reason.contains("progress deadline of 30s"), "{reason}");
    }

    #[test]
    fn a_newer_change_takes_over_from_a_running_rollout() {
        let mut world = six_replicas(json!({"parallelism": 1, "monitor": "1s"}));
        world.change(|spec| spec.image = "v2".into());
        for _ in 0..3 {
            world.pass();
            world.nodes_report();
            world.now += 1000;
        }
        assert!(world.images().contains_key("v2"));
        // Superseded: the new rollout replaces v1 and v2 tasks alike.
        world.change(|spec| spec.image = "v3".into());
        world.settle();
        assert_eq!(world.state(), Some(RolloutState::Completed));
        assert_eq!(world.images(), BTreeMap::from([("v3".to_owned(), 6)]));
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
