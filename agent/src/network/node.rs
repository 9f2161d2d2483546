//! The node's side of every service network: one [`Networks`] lives as
//! long as the agent, holds the last table's networked services, this
//! node's addresses for their tasks and the node's routes to them, and
//! serves each running container on a network
//! (a [`Sandbox`]) the view the table gives it. Clones share it: the
//! session applies tables, the Docker watcher says which containers run.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use shoal_proto::wire::NetworkedService;

use super::{
    netns::Namespace, reach::reach, routes::Routes, sandbox::Sandbox, tasks::TaskAddresses, view::View,
};
use crate::ingress::{Ingress, Limits, Slots};

/// A running container of a task on service networks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    /// Its main process, through which its namespace is found.
    pub pid: u32,
    pub networks: Vec<String>,
}

#[derive(Clone)]
pub struct Networks {
    state: Arc<Mutex<State>>,
}

struct State {
    services: Vec<NetworkedService>,
    tasks: TaskAddresses,
    routes: Routes,
    sandboxes: BTreeMap<String, Opened>,
    limits: Limits,
    node: Arc<Slots>,
    upstreams: Arc<[SocketAddr]>,
}

struct Opened {
    networks: Vec<String>,
    sandbox: Sandbox,
}

impl Networks {
    /// Connections count against `ingress`'s node-wide cap and follow its
    /// limits; names outside the cluster are asked of `upstreams`.
    pub fn new(ingress: &Ingress, upstreams: Arc<[SocketAddr]>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                services: Vec::new(),
                tasks: TaskAddresses::default(),
                routes: Routes::default(),
                sandboxes: BTreeMap::new(),
                limits: ingress.limits(),
                node: ingress.node_slots(),
                upstreams,
            })),
        }
    }

    /// Takes a new table's networked services: every container's names and
    /// routes change in place.
    pub fn apply(&self, services: &[NetworkedService]) {
        let mut state = self.lock();
        let State {
            routes, limits, node, ..
        } = &mut *state;
        routes.update(services, limits, node);
        state.services = services.to_vec();
        let ready = services
            .iter()
            .flat_map(|s| &s.ports)
            .flat_map(|p| &p.backends)
            .map(|b| b.task_id.as_str());
        state.tasks = state.tasks.assign(ready);
        for opened in state.sandboxes.values() {
            let reach = reach(&opened.networks, &state.services, &state.tasks);
            opened.sandbox.set_view(View::new(reach, &state.routes));
        }
    }

    /// Makes the served containers those of `running`: new ones get a
    /// resolver and virtual addresses, gone ones lose theirs. Must run
    /// inside the tokio runtime.
    pub fn set_containers(&self, running: &[Container]) {
        let mut state = self.lock();
        let current: BTreeMap<String, u32> = state
            .sandboxes
            .iter()
            .map(|(id, opened)| (id.clone(), opened.sandbox.pid))
            .collect();
        let (open, close) = changes(&current, running);
        for id in close {
            state.sandboxes.remove(&id);
            tracing::info!(container = %id, "service networks: container gone, its sockets closed");
        }
        for container in open {
            let namespace = match Namespace::of_process(container.pid) {
                Ok(namespace) => namespace,
                Err(error) => {
                    // Ended since it was listed, or the agent lacks rights;
                    // the next listing tries again.
                    tracing::warn!(container = %container.id, "service networks: {error}");
                    continue;
                }
            };
            let view = View::new(
                reach(&container.networks, &state.services, &state.tasks),
                &state.routes,
            );
            let sandbox = Sandbox::open(
                container.id.clone(),
                container.pid,
                namespace,
                view,
                Arc::clone(&state.upstreams),
            );
            let opened = Opened {
                networks: container.networks.clone(),
                sandbox,
            };
            state.sandboxes.insert(container.id.clone(), opened);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which containers to start serving and which to stop, given those served
/// now (by id, with the process they were opened through) and those
/// running. A container whose process changed was started again, in a new
/// namespace: it is closed and opened anew. Containers on no network are
/// not served.
pub fn changes<'a>(
    current: &BTreeMap<String, u32>,
    running: &'a [Container],
) -> (Vec<&'a Container>, Vec<String>) {
    let mut wanted = BTreeMap::new();
    for container in running.iter().filter(|c| !c.networks.is_empty()) {
        wanted.entry(container.id.as_str()).or_insert(container);
    }
    let close = current
        .iter()
        .filter(|(id, pid)| wanted.get(id.as_str()).is_none_or(|c| c.pid != **pid))
        .map(|(id, _)| id.clone())
        .collect();
    let open = wanted
        .into_values()
        .filter(|c| current.get(&c.id) != Some(&c.pid))
        .collect();
    (open, close)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, pid: u32, networks: &[&str]) -> Container {
        Container {
            id: id.into(),
            pid,
            networks: networks.iter().map(|n| (*n).into()).collect(),
        }
    }

    fn ids(open: &[&Container]) -> Vec<String> {
        open.iter().map(|c| c.id.clone()).collect()
    }

    #[test]
    fn new_containers_open_gone_ones_close_and_the_others_stay() {
        let current = BTreeMap::from([("a".to_owned(), 10), ("b".to_owned(), 20)]);
        let running = [container("a", 10, &["backend"]), container("c", 30, &["backend"])];
        let (open, close) = changes(&current, &running);
        assert_eq!(ids(&open), ["c"]);
        assert_eq!(close, ["b"]);
    }

    #[test]
    fn a_container_started_again_is_served_anew() {
        let current = BTreeMap::from([("a".to_owned(), 10)]);
        let running = [container("a", 11, &["backend"])];
        let (open, close) = changes(&current, &running);
        assert_eq!(ids(&open), ["a"]);
        assert_eq!(close, ["a"]);
    }

    #[test]
    fn containers_on_no_network_are_not_served() {
        let current = BTreeMap::from([("a".to_owned(), 10)]);
        let running = [container("a", 10, &[]), container("b", 20, &[])];
        let (open, close) = changes(&current, &running);
        assert!(open.is_empty());
        assert_eq!(close, ["a"]);
    }
}
