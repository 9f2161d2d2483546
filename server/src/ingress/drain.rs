//! Draining: a task that leaves the mesh's backends keeps running until
//! every connected node has applied a table without it (so no new
//! connection can reach it), or its drain timeout passes. Only then does
//! its node hear that it should stop. Pure over the tables, the nodes'
//! acknowledged versions and a clock passed in.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use shoal_proto::wire::IngressPort;

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

/// Task id to node id of every backend in a table.
fn backends(ports: &[IngressPort]) -> HashMap<&str, &str> {
    ports
        .iter()
        .flat_map(|p| p.backends.iter())
        .map(|b| (b.task_id.as_str(), b.node_id.as_str()))
        .collect()
}

impl Drains {
    /// Table `version` replaced `previous` with `next`: the backends that
    /// left start draining, each for its service's drain timeout.
    pub fn withdrawn(
        &mut self,
        previous: &[IngressPort],
        next: &[IngressPort],
        version: u64,
        now: Instant,
        timeout_of: impl Fn(&str) -> Duration,
    ) {
        let staying = backends(next);
        for port in previous {
            for backend in &port.backends {
                if staying.contains_key(backend.task_id.as_str()) {
                    continue;
                }
                self.draining
                    .entry(backend.task_id.clone())
                    .or_insert_with(|| Drain {
                        node_id: backend.node_id.clone(),
                        withdrawn_in: version,
                        deadline: now + timeout_of(&port.service_id),
                    });
            }
        }
        // A task back in the table is no longer draining.
        self.draining
            .retain(|task, _| !staying.contains_key(task.as_str()));
    }

    /// Whether the task's node must not be told to stop it yet: it is still
    /// a backend in the current table (which is about to be recomputed), or
    /// draining and not yet done.
    pub fn holds(
        &self,
        task_id: &str,
        current: &[IngressPort],
        acks: &HashMap<String, u64>,
        now: Instant,
    ) -> bool {
        if backends(current).contains_key(task_id) {
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
    use shoal_proto::{service::Protocol, wire::Backend};

    use super::*;

    fn table(tasks: &[(&str, &str)]) -> Vec<IngressPort> {
        vec![IngressPort {
            published: 18080,
            protocol: Protocol::Tcp,
            service_id: "s1".into(),
            service_name: "web".into(),
            backends: tasks
                .iter()
                .map(|(task, node)| Backend {
                    task_id: (*task).into(),
                    node_id: (*node).into(),
                    addr: "127.0.0.2:1".into(),
                })
                .collect(),
        }]
    }

    fn acks(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
    }

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[test]
    fn a_withdrawn_task_is_held_until_every_node_applied_a_table_without_it() {
        let now = Instant::now();
        let mut drains = Drains::default();
        let before = table(&[("a", "n1"), ("b", "n2")]);
        let after = table(&[("b", "n2")]);
        // Still in the current table: held whatever the acks say.
        assert!(drains.holds("a", &before, &acks(&[]), now));
        drains.withdrawn(&before, &after, 7, now, |_| TIMEOUT);
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
    fn a_drain_ends_at_its_timeout_when_a_node_never_acknowledges() {
        let now = Instant::now();
        let mut drains = Drains::default();
        let before = table(&[("a", "n1")]);
        drains.withdrawn(&before, &[], 3, now, |_| TIMEOUT);
        let stuck = acks(&[("n1", 2)]);
        assert!(drains.holds("a", &[], &stuck, now + TIMEOUT - Duration::from_millis(1)));
        assert!(!drains.holds("a", &[], &stuck, now + TIMEOUT));
        assert_eq!(drains.settle(&stuck, now + TIMEOUT).len(), 1);
    }

    #[test]
    fn a_task_that_comes_back_stops_draining_and_the_first_withdrawal_counts() {
        let now = Instant::now();
        let mut drains = Drains::default();
        let with = table(&[("a", "n1")]);
        drains.withdrawn(&with, &[], 3, now, |_| TIMEOUT);
        drains.withdrawn(&[], &[], 4, now, |_| TIMEOUT);
        assert!(!drains.holds("a", &[], &acks(&[("n1", 3)]), now));
        drains.withdrawn(&[], &with, 5, now, |_| TIMEOUT);
        assert_eq!(drains.next_deadline(), None);
    }
}
