//! What a service needs done, decided from plain data: the desired slots
//! (replicated) or nodes (global), the tasks that exist, and the nodes.
//! Sorts live tasks into keep or stop, lets the updater pick the slots a
//! rollout replaces next, fills empty slots by the restart policy, places
//! what it creates, trims old history. Writes nothing: it returns a plan
//! that `apply` persists in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use shoal_proto::{
    Millis,
    node::{Availability, Node},
    service::{
        DesiredState, Mode, RestartCondition, ServiceSpec, SlotProgress, Task, TaskBrief, TaskState,
        UpdateOrder,
    },
};

use super::{
    scheduler::{Demand, Scheduler, Unplaceable},
    slots::{Desired, Key, Rolling, by_key, is_dirty, is_live, key_of, slots},
    updater::{self, Decision},
};
use crate::store::{TaskRecord, TaskWrite};

/// Ended tasks kept per slot, as Swarm's default task history.
pub const HISTORY_PER_SLOT: usize = 5;

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
