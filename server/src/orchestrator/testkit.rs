//! Plain data for the orchestrator's tests.

use std::collections::{BTreeMap, HashMap, HashSet};

use shoal_proto::{
    Millis,
    container::replaces_tasks,
    node::{Availability, Node, NodeRole, NodeStatus, Platform, Resources},
    service::{DesiredState, Heading, Rollout, RolloutStart, RolloutState, ServiceSpec, Task, TaskState},
};

use super::{
    reconcile::{Cluster, Plan, reconcile},
    slots::{Desired, Rolling, is_live},
    updater::{Decision, Outcome},
};
use crate::store::{TaskRecord, TaskWrite};

pub fn node(id: &str, role: NodeRole) -> Node {
    Node {
        id: id.to_owned(),
        hostname: format!("host-{id}"),
        role,
        availability: Availability::Active,
        labels: BTreeMap::new(),
        engine_labels: BTreeMap::new(),
        status: NodeStatus::Ready,
        address: "127.0.0.1".into(),
        platform: Platform {
            os: "linux".into(),
            arch: "amd64".into(),
        },
        resources: Resources {
            cpus: 2,
            memory_bytes: 4 << 30,
        },
        engine_version: "20.10".into(),
        agent_version: "0.1.0".into(),
        last_heartbeat_at: None,
        joined_at: 0,
    }
}

pub fn workers(count: usize) -> Vec<Node> {
    (1..=count)
        .map(|i| node(&format!("w{i}"), NodeRole::Worker))
        .collect()
}

pub fn labelled(mut node: Node, key: &str, value: &str) -> Node {
    node.labels.insert(key.to_owned(), value.to_owned());
    node
}

pub fn spec(json: serde_json::Value) -> ServiceSpec {
    let spec: ServiceSpec = serde_json::from_value(json).expect("a valid spec");
    spec.validate().expect("a valid spec");
    spec
}

/// One service, its nodes and its tasks in memory: passes run reconcile and
/// apply its plan the way the store does; nodes report the way agents do.
pub struct World {
    pub spec: ServiceSpec,
    pub revision: u64,
    pub specs: HashMap<u64, ServiceSpec>,
    pub rollout: Option<Rollout>,
    pub failures: HashSet<String>,
    pub deleted: bool,
    pub nodes: Vec<Node>,
    pub lost: HashSet<String>,
    pub tasks: Vec<TaskRecord>,
    pub now: Millis,
    pub next: u32,
}

impl World {
    pub fn new(spec_json: serde_json::Value, nodes: Vec<Node>) -> Self {
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
    pub fn pass(&mut self) -> Plan {
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
    pub fn change(&mut self, change: impl FnOnce(&mut ServiceSpec)) {
        let mut next = self.spec.clone();
        change(&mut next);
        self.revision += 1;
        self.specs.insert(self.revision, next.clone());
        if replaces_tasks(&self.spec, &next) {
            let id = format!("r{}", self.revision);
            let start = RolloutStart {
                id: &id,
                service_id: "svc",
                service_name: "web",
                from_revision: self.revision - 1,
                actor: "op",
                now: self.now,
            };
            let (rollout, _) = Rollout::begin(start, Heading::Forward { trigger: "update" });
            self.rollout = Some(rollout);
            self.failures.clear();
        }
        self.spec = next;
    }

    /// What `apply` does with the updater's decision.
    pub fn follow(&mut self, decision: &Decision) {
        self.failures
            .extend(decision.new_failures.iter().map(|(id, _)| id.clone()));
        let Some(rollout) = self.rollout.as_mut() else {
            return;
        };
        let Some(outcome) = &decision.outcome else {
            return;
        };
        let Ok(to) = rollout.state.after(outcome.step()) else {
            return;
        };
        rollout.state = to;
        match outcome {
            Outcome::Completed => {}
            Outcome::Pause(why) | Outcome::Fail(why) => rollout.reason = Some(why.clone()),
            Outcome::Rollback(why) => {
                self.failures.clear();
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

    pub fn state(&self) -> Option<RolloutState> {
        self.rollout.as_ref().map(|r| r.state)
    }

    /// Every live task of the current spec's image.
    pub fn images(&self) -> BTreeMap<String, usize> {
        let mut images = BTreeMap::new();
        for task in self.live() {
            *images
                .entry(self.specs[&task.revision].image.clone())
                .or_default() += 1;
        }
        images
    }

    /// Running tasks, healthy or without a health check.
    pub fn serving(&self) -> usize {
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
    pub fn nodes_report(&mut self) {
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
    pub fn settle_checking(&mut self, invariant: impl Fn(&World)) {
        for _ in 0..60 {
            let plan = self.pass();
            invariant(self);
            self.nodes_report();
            invariant(self);
            self.now += 1000;
            let idle = plan.writes.is_empty() && plan.rollout.as_ref().is_none_or(|d| d.outcome.is_none());
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

    pub fn settle(&mut self) {
        self.settle_checking(|_| {});
    }

    pub fn live(&self) -> Vec<&Task> {
        self.tasks
            .iter()
            .map(|r| &r.task)
            .filter(|t| is_live(t))
            .collect()
    }

    pub fn per_node(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for task in self.live() {
            *counts
                .entry(task.node_id.clone().unwrap_or_default())
                .or_default() += 1;
        }
        counts
    }

    pub fn slots(&self) -> Vec<u64> {
        let mut slots: Vec<u64> = self.live().iter().filter_map(|t| t.slot).collect();
        slots.sort();
        slots
    }
}
