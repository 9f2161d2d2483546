//! Draining: a task that leaves the table's backends (an ingress port's or
//! a networked service's) keeps running until every connected node has
//! applied a table without it (so no new connection can reach it), or its
//! drain timeout passes. Only then does its node hear that it should stop.
//! Pure over the tables, the nodes' acknowledged versions and a clock
//! passed in.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use shoal_proto::wire::{Backend, IngressTable};

#[derive(Clone, Debug, PartialEq, Eq)]
struct Drain {
    node_id: String,
    /// The first table version without the task.
    withdrawn_in: u64,
    deadline: Instant,
}

#[derive(Debug, Default)]
pub struct Drains {
    draining: HashMap<String, Drain>,
}

/// Every backend in a table, each with its service's id: the ingress
/// ports' and the networked services' alike.
fn backends(table: &IngressTable) -> impl Iterator<Item = (&str, &Backend)> {
    let ingress = table
        .ports
        .iter()
        .flat_map(|p| p.backends.iter().map(move |b| (p.service_id.as_str(), b)));
    let networked = table.services.iter().flat_map(|s| {
        s.ports
            .iter()
            .flat_map(move |p| p.backends.iter().map(move |b| (s.service_id.as_str(), b)))
    });
    ingress.chain(networked)
}

fn task_ids(table: &IngressTable) -> HashSet<&str> {
    backends(table).map(|(_, b)| b.task_id.as_str()).collect()
}

impl Drains {
    /// Table `next` replaced `previous`: the backends that left start
    /// draining, each for its service's drain timeout.
    pub fn withdrawn(
        &mut self,
        previous: &IngressTable,
        next: &IngressTable,
        now: Instant,
        timeout_of: impl Fn(&str) -> Duration,
    ) {
        let staying = task_ids(next);
        for (service_id, backend) in backends(previous) {
            if staying.contains(backend.task_id.as_str()) {
                continue;
            }
            self.draining
                .entry(backend.task_id.clone())
                .or_insert_with(|| Drain {
                    node_id: backend.node_id.clone(),
                    withdrawn_in: next.version,
                    deadline: now + timeout_of(service_id),
                });
        }
        // A task back in the table is no longer draining.
        self.draining.retain(|task, _| !staying.contains(task.as_str()));
    }

    /// Whether the task's node must not be told to stop it yet: it is still
    /// a backend in the current table (which is about to be recomputed), or
    /// draining and not yet done.
    pub fn holds(
        &self,
        task_id: &str,
        current: &IngressTable,
        acks: &HashMap<String, u64>,
        now: Instant,
    ) -> bool {
        if backends(current).any(|(_, b)| b.task_id == task_id) {
            return true;
        }
        self.draining
            .get(task_id)
            .is_some_and(|drain| !done(drain, acks, now))
    }

    /// The drains that are done: forgotten, and their nodes returned so the
    /// dispatcher can tell them to stop the tasks now.
    pub fn settle(&mut self, acks: &HashMap<String, u64>, now: Instant) -> HashSet<String> {
        let mut nodes = HashSet::new();
        self.draining.retain(|_, drain| {
            let finished = done(drain, acks, now);
            if finished {
                nodes.insert(drain.node_id.clone());
            }
            !finished
        });
        nodes
    }

    /// When the next drain times out, if any is running.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.draining.values().map(|d| d.deadline).min()
    }
}

fn done(drain: &Drain, acks: &HashMap<String, u64>, now: Instant) -> bool {
    now >= drain.deadline || acks.values().all(|&applied| applied >= drain.withdrawn_in)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use shoal_proto::{
        service::Protocol,
        wire::{IngressPort, NetworkedPort, NetworkedService},
    };

    use super::*;

    fn listed(tasks: &[(&str, &str)]) -> Vec<Backend> {
        tasks
            .iter()
            .map(|(task, node)| Backend {
                task_id: (*task).into(),
                node_id: (*node).into(),
                addr: "127.0.0.2:1".into(),
            })
            .collect()
    }

    /// Table `version` with these backends behind service s1's ingress port.
    fn table(version: u64, tasks: &[(&str, &str)]) -> IngressTable {
        IngressTable {
            version,
            ports: vec![IngressPort {
                published: 18080,
                protocol: Protocol::Tcp,
                service_id: "s1".into(),
                service_name: "web".into(),
                backends: listed(tasks),
            }],
            services: Vec::new(),
        }
    }

    /// Table `version` with these backends behind networked service s2's
    /// one port, and no ingress port.
    fn networked(version: u64, tasks: &[(&str, &str)]) -> IngressTable {
        IngressTable {
            version,
            ports: Vec::new(),
            services: vec![NetworkedService {
                service_id: "s2".into(),
                service_name: "api".into(),
                networks: vec!["backend".into()],
                address: Ipv4Addr::new(127, 128, 0, 2),
                ports: vec![NetworkedPort {
                    target: 8080,
                    protocol: Protocol::Tcp,
                    backends: listed(tasks),
                }],
            }],
        }
    }

    fn empty(version: u64) -> IngressTable {
        IngressTable {
            version,
            ..IngressTable::default()
        }
    }

    fn acks(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
    }

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[test]
    fn a_withdrawn_task_is_held_until_every_node_applied_a_table_without_it() {
        let now = Instant::now();
        let mut drains = Drains::default();
        let before = table(6, &[("a", "n1"), ("b", "n2")]);
        let after = table(7, &[("b", "n2")]);
        // Still in the current table: held whatever the acks say.
        assert!(drains.holds("a", &before, &acks(&[]), now));
        drains.withdrawn(&before, &after, now, |_| TIMEOUT);
        let some = acks(&[("n1", 7), ("n2", 6)]);
        assert!(drains.holds("a", &after, &some, now));
        assert!(drains.settle(&some, now).is_empty());
        assert_eq!(drains.next_deadline(), Some(now + TIMEOUT));

        let all = acks(&[("n1", 7), ("n2", 8)]);
        assert!(!drains.holds("a", &after, &all, now));
        assert_eq!(drains.settle(&all, now), HashSet::from(["n1".to_owned()]));
        assert_eq!(drains.next_deadline(), None);
        // Never a backend: nothing to wait for.
        assert!(!drains.holds("zzz", &after, &acks(&[]), now));
    }

    #[test]
    fn a_task_withdrawn_from_a_networked_service_drains_like_one_withdrawn_from_a_port() {
        let now = Instant::now();
        let mut drains = Drains::default();
        let before = networked(6, &[("a", "n1"), ("b", "n2")]);
        let after = networked(7, &[("b", "n2")]);
        assert!(drains.holds("a", &before, &acks(&[]), now));
        let long = Duration::from_secs(30);
        drains.withdrawn(
            &before,
            &after,
            now,
            |service| {
                if service == "s2" { long } else { TIMEOUT }
            },
        );
        // The networked service's own drain timeout.
        assert_eq!(drains.next_deadline(), Some(now + long));
        let some = acks(&[("n1", 7), ("n2", 6)]);
        assert!(drains.holds("a", &after, &some, now));
        assert!(drains.settle(&some, now).is_empty());
        let all = acks(&[("n1", 7), ("n2", 7)]);
        assert!(!drains.holds("a", &after, &all, now));
        assert_eq!(drains.settle(&all, now), HashSet::from(["n1".to_owned()]));
    }

    #[test]
    fn a_task_that_stays_behind_a_networked_service_is_not_draining_when_its_port_drops_it() {
        let now = Instant::now();
        let mut drains = Drains::default();
        let mut before = table(6, &[("a", "n1")]);
        before.services = networked(6, &[("a", "n1")]).services;
        let mut after = networked(7, &[("a", "n1")]);
        after.ports = table(7, &[]).ports;
        drains.withdrawn(&before, &after, now, |_| TIMEOUT);
        assert_eq!(drains.next_deadline(), None);
        // Still a backend somewhere: held until it leaves that too.
        assert!(drains.holds("a", &after, &acks(&[("n1", 7)]), now));
        let gone = networked(8, &[]);
        drains.withdrawn(&after, &gone, now, |_| TIMEOUT);
        assert!(drains.holds("a", &gone, &acks(&[("n1", 7)]), now));
        assert!(!drains.holds("a", &gone, &acks(&[("n1", 8)]), now));
    }

    #[test]
    fn a_drain_ends_at_its_timeout_when_a_node_never_acknowledges() {
        let now = Instant::now();
        let mut drains = Drains::default();
        let before = table(2, &[("a", "n1")]);
        let after = empty(3);
        drains.withdrawn(&before, &after, now, |_| TIMEOUT);
        let stuck = acks(&[("n1", 2)]);
        assert!(drains.holds("a", &after, &stuck, now + TIMEOUT - Duration::from_millis(1)));
        assert!(!drains.holds("a", &after, &stuck, now + TIMEOUT));
        assert_eq!(drains.settle(&stuck, now + TIMEOUT).len(), 1);
    }

    #[test]
    fn a_task_that_comes_back_stops_draining_and_the_first_withdrawal_counts() {
        let now = Instant::now();
        let mut drains = Drains::default();
        let with = table(2, &[("a", "n1")]);
        drains.withdrawn(&with, &empty(3), now, |_| TIMEOUT);
        drains.withdrawn(&empty(3), &empty(4), now, |_| TIMEOUT);
        assert!(!drains.holds("a", &empty(4), &acks(&[("n1", 3)]), now));
        drains.withdrawn(&empty(4), &table(5, &[("a", "n1")]), now, |_| TIMEOUT);
        assert_eq!(drains.next_deadline(), None);
    }
}
