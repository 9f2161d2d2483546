//! The routing mesh's server side: the table of ingress-published ports
//! and their healthy backends, pushed to every node whenever it changes;
//! what each node reports back about its listeners; and the drains that
//! hold a task's stop until no node sends it new connections.

pub mod drain;
pub mod recompute;
pub mod table;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use shoal_proto::wire::{IngressStatus, IngressTable};
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
        state
            .drains
            .holds(task_id, &table.ports, &state.acks(), Instant::now())
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

    /// Publishes `ports` as a new table if they differ from the current one.
    fn publish(
        &self,
        ports: Vec<shoal_proto::wire::IngressPort>,
        timeouts: HashMap<String, Duration>,
    ) -> bool {
        let previous = self.current();
        let mut state = self.state();
        state.drain_timeouts = timeouts;
        if previous.ports == ports {
            return false;
        }
        let version = previous.version + 1;
        let state = &mut *state;
        let timeouts = &state.drain_timeouts;
        state
            .drains
            .withdrawn(&previous.ports, &ports, version, Instant::now(), |service| {
                timeouts.get(service).copied().unwrap_or(DEFAULT_DRAIN)
            });
        self.table.send_replace(Arc::new(IngressTable {
            version,
            ports,
            services: Vec::new(),
        }));
        true
    }
}

fn settle(state: &mut State) -> Vec<String> {
    let acks = state.acks();
    state.drains.settle(&acks, Instant::now()).into_iter().collect()
}
