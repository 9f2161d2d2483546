//! Where a task goes: a pure function over nodes and what already runs on
//! them. Filters first (ready, active, constraints, max per node, free
//! reservations, free host ports), each able to say why nothing is left;
//! then a ranking that spreads: over the values of each preference label,
//! then fewest tasks of this service, then fewest tasks overall.

use std::collections::{BTreeMap, HashMap, HashSet};

use shoal_proto::{
    container::nano_cpus,
    node::{Availability, Node, NodeStatus},
    service::{Constraint, Preference, ServiceSpec},
};

use crate::store::TaskRecord;

/// What one task asks of its node.
#[derive(Clone, Debug)]
pub struct Demand {
    pub service_id: String,
    pub constraints: Vec<Constraint>,
    pub preferences: Vec<Preference>,
    /// 0: no limit.
    pub max_per_node: u64,
    pub nano_cpus: i64,
    pub memory: i64,
    pub host_ports: Vec<String>,
}

impl Demand {
    pub fn of(service_id: &str, spec: &ServiceSpec) -> Self {
        Self {
            service_id: service_id.to_owned(),
            constraints: spec.constraints(),
            preferences: spec.spread_preferences(),
            max_per_node: spec.max_replicas_per_node.unwrap_or(0),
            nano_cpus: nano_cpus(spec.resources.reservations.cpus),
            memory: spec
                .resources
                .reservations
                .memory
                .map_or(0, |size| i64::try_from(size.0).unwrap_or(i64::MAX)),
            host_ports: host_ports(spec),
        }
    }
}

/// The host-mode published ports a task of this spec holds on its node.
pub fn host_ports(spec: &ServiceSpec) -> Vec<String> {
    spec.ports
        .iter()
        .filter(|port| port.mode == shoal_proto::service::PublishMode::Host)
        .filter_map(|port| {
            let protocol = match port.protocol {
                shoal_proto::service::Protocol::Tcp => "tcp",
                shoal_proto::service::Protocol::Udp => "udp",
            };
            port.published.map(|published| format!("{published}/{protocol}"))
        })
        .collect()
}

/// What the tasks already on a node take.
#[derive(Clone, Debug, Default)]
struct Load {
    tasks: u64,
    by_service: HashMap<String, u64>,
    nano_cpus: i64,
    memory: i64,
    host_ports: HashSet<String>,
}

/// The cluster as the scheduler sees it; placing a task adds it to the
/// loads, so one plan can place many tasks.
pub struct Scheduler<'a> {
    nodes: &'a [Node],
    loads: HashMap<&'a str, Load>,
}

/// Why no node fits, for the task's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaceable(pub String);

impl<'a> Scheduler<'a> {
    /// `placed`: every task that holds a place on a node (any service).
    pub fn new(nodes: &'a [Node], placed: &[TaskRecord]) -> Self {
        let mut loads: HashMap<&'a str, Load> =
            nodes.iter().map(|n| (n.id.as_str(), Load::default())).collect();
        for record in placed {
            let Some(node_id) = record.task.node_id.as_deref() else {
                continue;
            };
            if let Some(load) = loads.get_mut(node_id) {
                load.add(
                    &record.task.service_id,
                    record.reserved_nano_cpus,
                    record.reserved_memory,
                    &record.host_ports,
                );
            }
        }
        Self { nodes, loads }
    }

    /// Picks a node for one task and counts the task there.
    pub fn place(&mut self, demand: &Demand) -> Result<&'a Node, Unplaceable> {
        let candidates = self.feasible(demand, self.nodes.iter().collect())?;
        let chosen = self.rank(demand, candidates);
        self.loads.entry(chosen.id.as_str()).or_default().add(
            &demand.service_id,
            demand.nano_cpus,
            demand.memory,
            &demand.host_ports,
        );
        Ok(chosen)
    }

    /// Whether a task fits on this one node (global services), and why not.
    pub fn fits_on(&self, demand: &Demand, node: &'a Node) -> Result<(), Unplaceable> {
        self.feasible(demand, vec![node]).map(drop)
    }

    /// Places a task on a given node regardless of ranking (global services).
    pub fn place_on(&mut self, demand: &Demand, node: &'a Node) {
        self.loads.entry(node.id.as_str()).or_default().add(
            &demand.service_id,
            demand.nano_cpus,
            demand.memory,
            &demand.host_ports,
        );
    }

    /// Whether a node passes the filters that decide where a global
    /// service belongs: ready, active and matching every constraint.
    pub fn belongs(demand: &Demand, node: &Node) -> bool {
        node.status == NodeStatus::Ready
            && node.availability == Availability::Active
            && demand.constraints.iter().all(|c| c.matches(node))
    }

    fn feasible(&self, demand: &Demand, nodes: Vec<&'a Node>) -> Result<Vec<&'a Node>, Unplaceable> {
        if nodes.is_empty() {
            return Err(no_node(
                "no node has joined the cluster: join one with `shoal-agent join`",
            ));
        }
        let total = nodes.len();
        let ready = keep(nodes, |n| n.status == NodeStatus::Ready)
            .map_err(|()| no_node(&format!("0 of {total} nodes are ready")))?;
        let count = ready.len();
        let mut left = keep(ready, |n| n.availability == Availability::Active).map_err(|()| {
            no_node(&format!(
                "0 of {count} ready nodes are active (the others are drained or paused)"
            ))
        })?;
        for constraint in &demand.constraints {
            let count = left.len();
            left = keep(left, |n| constraint.matches(n)).map_err(|()| {
                no_node(&format!(
                    "constraint {constraint}: 0 of {count} ready nodes match"
                ))
            })?;
        }
        if demand.max_per_node > 0 {
            let count = left.len();
            left = keep(left, |n| self.load(n).of(&demand.service_id) < demand.max_per_node).map_err(|()| {
                no_node(&format!(
                    "max_replicas_per_node {}: all {count} eligible nodes already run that many tasks of this service",
                    demand.max_per_node
                ))
            })?;
        }
        if demand.nano_cpus > 0 || demand.memory > 0 {
            let count = left.len();
            left = keep(left, |n| self.has_room(n, demand)).map_err(|()| {
                no_node(&format!(
                    "reservations do not fit: 0 of {count} eligible nodes have {} unreserved",
                    describe_reservation(demand)
                ))
            })?;
        }
        for port in &demand.host_ports {
            let count = left.len();
            left = keep(left, |n| !self.load(n).host_ports.contains(port)).map_err(|()| {
                no_node(&format!(
                    "host port {port} is already published on all {count} eligible nodes"
                ))
            })?;
        }
        Ok(left)
    }

    fn load(&self, node: &Node) -> &Load {
        static EMPTY: std::sync::LazyLock<Load> = std::sync::LazyLock::new(Load::default);
        self.loads.get(node.id.as_str()).unwrap_or(&EMPTY)
    }

    fn has_room(&self, node: &Node, demand: &Demand) -> bool {
        let load = self.load(node);
        let cpus = i64::try_from(node.resources.cpus)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000_000);
        let memory = i64::try_from(node.resources.memory_bytes).unwrap_or(i64::MAX);
        load.nano_cpus.saturating_add(demand.nano_cpus) <= cpus
            && load.memory.saturating_add(demand.memory) <= memory
    }

    fn rank(&self, demand: &Demand, mut candidates: Vec<&'a Node>) -> &'a Node {
        for preference in &demand.preferences {
            // Tasks of this service per label value, over every node: spread
            // is about the zones, not about the candidates alone.
            let mut per_value: BTreeMap<Option<&str>, u64> = BTreeMap::new();
            for node in self.nodes {
                *per_value.entry(preference.value_of(node)).or_default() +=
                    self.load(node).of(&demand.service_id);
            }
            let fewest = candidates
                .iter()
                .map(|n| per_value.get(&preference.value_of(n)).copied().unwrap_or(0))
                .min()
                .unwrap_or(0);
            candidates.retain(|n| per_value.get(&preference.value_of(n)).copied().unwrap_or(0) == fewest);
        }
        candidates
            .into_iter()
            .min_by(|a, b| {
                let (la, lb) = (self.load(a), self.load(b));
                la.of(&demand.service_id)
                    .cmp(&lb.of(&demand.service_id))
                    .then(la.tasks.cmp(&lb.tasks))
                    .then_with(|| a.hostname.cmp(&b.hostname))
                    .then_with(|| a.id.cmp(&b.id))
            })
            .expect("feasible() never returns an empty list")
    }
}

impl Load {
    fn add(&mut self, service_id: &str, nano_cpus: i64, memory: i64, host_ports: &[String]) {
        self.tasks += 1;
        *self.by_service.entry(service_id.to_owned()).or_default() += 1;
        self.nano_cpus = self.nano_cpus.saturating_add(nano_cpus);
        self.memory = self.memory.saturating_add(memory);
        self.host_ports.extend(host_ports.iter().cloned());
    }

    fn of(&self, service_id: &str) -> u64 {
        self.by_service.get(service_id).copied().unwrap_or(0)
    }
}

fn keep(nodes: Vec<&Node>, pass: impl Fn(&Node) -> bool) -> Result<Vec<&Node>, ()> {
    let left: Vec<&Node> = nodes.into_iter().filter(|n| pass(n)).collect();
    if left.is_empty() { Err(()) } else { Ok(left) }
}

fn no_node(why: &str) -> Unplaceable {
    Unplaceable(format!("no suitable node: {why}"))
}

fn describe_reservation(demand: &Demand) -> String {
    let mut parts = Vec::new();
    if demand.nano_cpus > 0 {
        parts.push(format!("{} CPUs", demand.nano_cpus as f64 / 1e9));
    }
    if demand.memory > 0 {
        parts.push(format!(
            "{} of memory",
            shoal_proto::service::ByteSize(demand.memory.unsigned_abs())
        ));
    }
    parts.join(" and ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shoal_proto::node::NodeRole;

    use super::*;
    use crate::orchestrator::testkit::{labelled, node, spec, workers};

    fn demand(json: serde_json::Value) -> Demand {
        Demand::of("svc", &spec(json))
    }

    fn place_many(scheduler: &mut Scheduler, demand: &Demand, count: usize) -> Vec<String> {
        (0..count)
            .map(|_| scheduler.place(demand).map(|n| n.id.clone()).unwrap())
            .collect()
    }

    fn tally(ids: &[String]) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for id in ids {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        counts
    }

    #[test]
    fn spreads_evenly_and_honours_constraints() {
        let mut nodes = workers(3);
        nodes.push(node("m1", NodeRole::Manager));
        let mut scheduler = Scheduler::new(&nodes, &[]);
        let demand = demand(json!({"name": "web", "image": "x", "constraints": ["node.role!=manager"]}));
        let placed = place_many(&mut scheduler, &demand, 6);
        assert_eq!(tally(&placed), BTreeMap::from([("w1", 2), ("w2", 2), ("w3", 2)]));
    }

    #[test]
    fn an_impossible_constraint_says_which_and_how_many_nodes() {
        let nodes = workers(3);
        let mut scheduler = Scheduler::new(&nodes, &[]);
        let demand = demand(json!({"name": "web", "image": "x", "constraints": ["node.role==manager"]}));
        let Unplaceable(why) = scheduler.place(&demand).unwrap_err();
        assert_eq!(
            why,
            "no suitable node: constraint node.role==manager: 0 of 3 ready nodes match"
        );
    }

    #[test]
    fn only_ready_active_nodes_take_tasks() {
        let mut nodes = workers(3);
        nodes[0].status = NodeStatus::Down;
        nodes[1].availability = Availability::Drain;
        let mut scheduler = Scheduler::new(&nodes, &[]);
        let demand = demand(json!({"name": "web", "image": "x"}));
        assert_eq!(place_many(&mut scheduler, &demand, 3), ["w3", "w3", "w3"]);
        nodes[2].availability = Availability::Pause;
        let mut scheduler = Scheduler::new(&nodes, &[]);
        let Unplaceable(why) = scheduler.place(&demand).unwrap_err();
        assert!(why.contains("0 of 2 ready nodes are active"), "{why}");
        let mut scheduler = Scheduler::new(&[], &[]);
        assert!(
            scheduler
                .place(&demand)
                .unwrap_err()
                .0
                .contains("shoal-agent join")
        );
    }

    #[test]
    fn max_replicas_per_node_caps_each_node() {
        let nodes = workers(2);
        let mut scheduler = Scheduler::new(&nodes, &[]);
        let demand = demand(json!({"name": "web", "image": "x", "max_replicas_per_node": 1}));
        assert_eq!(tally(&place_many(&mut scheduler, &demand, 2)).len(), 2);
        let Unplaceable(why) = scheduler.place(&demand).unwrap_err();
        assert!(why.contains("max_replicas_per_node 1"), "{why}");
    }

    #[test]
    fn reservations_must_fit_what_is_left() {
        let nodes = workers(1);
        let mut scheduler = Scheduler::new(&nodes, &[]);
        let demand = demand(
            json!({"name": "web", "image": "x", "resources": {"reservations": {"cpus": 0.75, "memory": "1G"}}}),
        );
        place_many(&mut scheduler, &demand, 2);
        let Unplaceable(why) = scheduler.place(&demand).unwrap_err();
        assert_eq!(
            why,
            "no suitable node: reservations do not fit: 0 of 1 eligible nodes have 0.75 CPUs and 1G of memory unreserved"
        );
    }

    #[test]
    fn a_host_port_is_taken_once_per_node() {
        let nodes = workers(2);
        let mut scheduler = Scheduler::new(&nodes, &[]);
        let demand = demand(
            json!({"name": "web", "image": "x", "ports": [{"target": 80, "published": 8080, "mode": "host"}]}),
        );
        assert_eq!(tally(&place_many(&mut scheduler, &demand, 2)).len(), 2);
        assert!(
            scheduler
                .place(&demand)
                .unwrap_err()
                .0
                .contains("host port 8080/tcp")
        );
    }

    #[test]
    fn spread_preference_balances_label_values_before_nodes() {
        // Zone a has two nodes, zone b one: spreading over zones puts half
        // the tasks on the lone zone-b node.
        let nodes = vec![
            labelled(node("a1", NodeRole::Worker), "zone", "a"),
            labelled(node("a2", NodeRole::Worker), "zone", "a"),
            labelled(node("b1", NodeRole::Worker), "zone", "b"),
        ];
        let mut scheduler = Scheduler::new(&nodes, &[]);
        let demand = demand(json!({"name": "web", "image": "x", "preferences": ["spread=node.labels.zone"]}));
        let placed = place_many(&mut scheduler, &demand, 4);
        assert_eq!(tally(&placed), BTreeMap::from([("a1", 1), ("a2", 1), ("b1", 2)]));
    }

    #[test]
    fn fewer_tasks_overall_breaks_ties() {
        let nodes = workers(2);
        let busy = crate::store::TaskRecord {
            task: shoal_proto::service::Task {
                id: "t".into(),
                service_id: "other".into(),
                service_name: "other".into(),
                slot: Some(1),
                node_id: Some("w1".into()),
                revision: 1,
                desired_state: shoal_proto::service::DesiredState::Running,
                state: shoal_proto::service::TaskState::Running,
                message: String::new(),
                error: None,
                container_id: None,
                exit_code: None,
                healthy: None,
                ports: Vec::new(),
                created_at: 0,
                updated_at: 0,
            },
            reserved_nano_cpus: 0,
            reserved_memory: 0,
            host_ports: Vec::new(),
            ready_since: None,
            health_starting: false,
            ever_unhealthy: false,
        };
        let mut scheduler = Scheduler::new(&nodes, &[busy]);
        let demand = demand(json!({"name": "web", "image": "x"}));
        assert_eq!(scheduler.place(&demand).unwrap().id, "w2");
    }
}
