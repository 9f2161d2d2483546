//! The routing mesh's server side: the table of ingress-published ports
//! and of the services on networks, with their healthy backends, pushed to
//! every node whenever it changes;
//! what each node reports back about its listeners; and the drains that
//! hold a task's stop until no node sends it new connections.

pub mod drain;
pub mod networked;
pub mod recompute;
pub mod table;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use shoal_proto::wire::{IngressPort, IngressStatus, IngressTable, NetworkedService};
use tokio::sync::{Notify, watch};

use self::drain::Drains;
use crate::store::now_millis;

/// For a service deleted while its tasks drain (its spec is gone).
const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

/// What a node last reported about its listeners.
#[derive(Clone, Debug)]
pub struct NodeReport {
    pub status: IngressStatus,
    pub received_at: i64,
}

#[derive(Debug, Default)]
struct State {
    drains: Drains,
    /// Connected nodes only: a node that is gone applies nothing.
    reports: HashMap<String, NodeReport>,
    /// Per service, from its spec.
    drain_timeouts: HashMap<String, Duration>,
}

impl State {
    fn acks(&self) -> HashMap<String, u64> {
        self.reports
            .iter()
            .map(|(node, report)| (node.clone(), report.status.version))
            .collect()
    }
}

pub struct Ingress {
    table: watch::Sender<Arc<IngressTable>>,
    state: Mutex<State>,
    recompute: Notify,
}

impl Default for Ingress {
    fn default() -> Self {
        // Versions start from the clock so that a restarted server's tables
        // are newer than any an agent kept from before.
        let first = IngressTable {
            version: u64::try_from(now_millis()).unwrap_or_default(),
            ports: Vec::new(),
            services: Vec::new(),
        };
        Self {
            table: watch::channel(Arc::new(first)).0,
            state: Mutex::default(),
            recompute: Notify::new(),
        }
    }
}

impl Ingress {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current table now and each one after it.
    pub fn subscribe(&self) -> watch::Receiver<Arc<IngressTable>> {
        self.table.subscribe()
    }

    pub fn current(&self) -> Arc<IngressTable> {
        self.table.borrow().clone()
    }

    /// Whether a task's node must keep running it for now although it is
    /// wanted stopped: it is still being drained from the mesh.
    pub fn holds(&self, task_id: &str) -> bool {
        let table = self.current();
        let state = self.state();
        state.drains.holds(task_id, &table, &state.acks(), Instant::now())
    }

    /// A node's report; returns the nodes whose drained tasks may stop now.
    pub fn report(&self, node_id: &str, status: IngressStatus) -> Vec<String> {
        let mut state = self.state();
        state.reports.insert(
            node_id.to_owned(),
            NodeReport {
                status,
                received_at: now_millis(),
            },
        );
        settle(&mut state)
    }

    /// A node disconnected: it no longer holds up drains.
    pub fn forget(&self, node_id: &str) -> Vec<String> {
        let mut state = self.state();
        state.reports.remove(node_id);
        settle(&mut state)
    }

    /// What each connected node last reported.
    pub fn reports(&self) -> HashMap<String, NodeReport> {
        self.state().reports.clone()
    }

    /// Asks for the table to be recomputed soon.
    pub fn changed(&self) {
        self.recompute.notify_one();
    }

    /// Publishes `ports` and `services` as a new table if either differs
    /// from the current one.
    fn publish(
        &self,
        ports: Vec<IngressPort>,
        services: Vec<NetworkedService>,
        timeouts: HashMap<String, Duration>,
    ) -> bool {
        let previous = self.current();
        let mut state = self.state();
        state.drain_timeouts = timeouts;
        if previous.ports == ports && previous.services == services {
            return false;
        }
        let next = IngressTable {
            version: previous.version + 1,
            ports,
            services,
        };
        let state = &mut *state;
        let timeouts = &state.drain_timeouts;
        state
            .drains
            .withdrawn(&previous, &next, Instant::now(), |service| {
                timeouts.get(service).copied().unwrap_or(DEFAULT_DRAIN)
            });
        self.table.send_replace(Arc::new(next));
        true
    }
}

fn settle(state: &mut State) -> Vec<String> {
    let acks = state.acks();
    state.drains.settle(&acks, Instant::now()).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use shoal_proto::wire::{Backend, NetworkedPort};

    use super::*;

    fn api(backends: &[&str]) -> Vec<NetworkedService> {
        vec![NetworkedService {
            service_id: "s1".into(),
            service_name: "api".into(),
            networks: vec!["backend".into()],
            address: Ipv4Addr::new(127, 128, 0, 1),
            ports: vec![NetworkedPort {
                target: 8080,
                protocol: shoal_proto::service::Protocol::Tcp,
                backends: backends
                    .iter()
                    .map(|task| Backend {
                        task_id: (*task).into(),
                        node_id: "n1".into(),
                        addr: "10.0.0.2:32768".into(),
                    })
                    .collect(),
            }],
        }]
    }

    #[test]
    fn a_table_whose_networked_services_changed_is_a_new_version_and_drains_what_left() {
        let ingress = Ingress::default();
        let first = ingress.current().version;
        assert!(ingress.publish(Vec::new(), api(&["a", "b"]), HashMap::new()));
        assert_eq!(ingress.current().version, first + 1);
        // The same again is no new table.
        assert!(!ingress.publish(Vec::new(), api(&["a", "b"]), HashMap::new()));
        assert_eq!(ingress.current().version, first + 1);

        // Equal ports, one backend fewer: a new table, and the task that
        // left is held until node n1 applied it.
        assert!(ingress.publish(Vec::new(), api(&["b"]), HashMap::new()));
        let version = ingress.current().version;
        assert_eq!(version, first + 2);
        ingress.report(
            "n1",
            IngressStatus {
                version: version - 1,
                ..IngressStatus::default()
            },
        );
        assert!(ingress.holds("a"));
        let released = ingress.report(
            "n1",
            IngressStatus {
                version,
                ..IngressStatus::default()
            },
        );
        assert!(!ingress.holds("a"));
        assert_eq!(released, ["n1"]);
    }
}
