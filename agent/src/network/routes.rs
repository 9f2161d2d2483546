//! The node's routes to networked services' ports: one per service and
//! target port, shared by every container reaching it, so that "least busy"
//! counts all of this node's connections to a backend, as ingress does;
//! and one per task and target port, for its task address, to that one
//! backend (no balancing: a client that asks `tasks.NAME` balances itself),
//! sharing the service port's caps and counters and the backend's load
//! count. A new table rebuilds each route whole (keeping its load counts);
//! the port's caps and counters live as long as the port stays in the table.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::AtomicUsize},
};

use shoal_proto::{service::Protocol, wire::NetworkedService};

use super::reach::PortKey;
use crate::ingress::{Caps, Counters, Limits, Route, Slots};

/// What a connection to one service port needs: where to go and what
/// bounds it.
#[derive(Clone, Debug)]
pub struct Destination {
    pub route: Arc<Route>,
    pub port: Arc<PortState>,
}

#[derive(Debug)]
pub struct PortState {
    pub counters: Counters,
    pub caps: Caps,
    /// Connections accepted, for taking turns among equally busy backends.
    pub turns: AtomicUsize,
}

#[derive(Debug, Default)]
pub struct Routes {
    ports: BTreeMap<PortKey, Destination>,
}

impl Routes {
    /// Makes the routes match `services`. `node` is the node-wide cap,
    /// shared with the published ports.
    pub fn update(&mut self, services: &[NetworkedService], limits: &Limits, node: &Arc<Slots>) {
        let mut ports = BTreeMap::new();
        for service in services {
            for port in service.ports.iter().filter(|p| p.protocol == Protocol::Tcp) {
                let key = PortKey {
                    service_id: service.service_id.clone(),
                    target: port.target,
                    task: None,
                };
                let previous = self.ports.get(&key);
                let (route, rejected) = Route::build(
                    &service.service_name,
                    &port.backends,
                    previous.map(|d| d.route.as_ref()),
                );
                for backend in rejected {
                    tracing::warn!(
                        service = %service.service_name,
                        target = port.target,
                        task = %backend.task_id,
                        addr = %backend.addr,
                        "service network backend is not an ip:port address; skipping it"
                    );
                }
                let state = previous.map_or_else(
                    || {
                        Arc::new(PortState {
                            counters: Counters::default(),
                            caps: Caps {
                                port: Slots::new(limits.per_port),
                                node: Arc::clone(node),
                                idle_timeout: limits.idle_timeout,
                            },
                            turns: AtomicUsize::new(0),
                        })
                    },
                    |d| Arc::clone(&d.port),
                );
                for backend in &port.backends {
                    // Built over the port's route, the task's one target
                    // shares its load count; an address the port's route
                    // rejected (logged above) gives no route.
                    let (alone, _) =
                        Route::build(&service.service_name, std::slice::from_ref(backend), Some(&route));
                    if alone.targets.is_empty() {
                        continue;
                    }
                    let task_key = PortKey {
                        task: Some(backend.task_id.clone()),
                        ..key.clone()
                    };
                    let destination = Destination {
                        route: Arc::new(alone),
                        port: Arc::clone(&state),
                    };
                    ports.insert(task_key, destination);
                }
                ports.insert(
                    key,
                    Destination {
                        route: Arc::new(route),
                        port: state,
                    },
                );
            }
        }
        self.ports = ports;
    }

    pub fn get(&self, key: &PortKey) -> Option<&Destination> {
        self.ports.get(key)
    }
}

#[cfg(test)]
mod tests {
    use std::{net::Ipv4Addr, sync::atomic::Ordering, time::Duration};

    use shoal_proto::wire::{Backend, NetworkedPort};

    use super::*;

    fn services(backends: &[&str]) -> Vec<NetworkedService> {
        vec![NetworkedService {
            service_id: "s-api".into(),
            service_name: "api".into(),
            networks: vec!["backend".into()],
            address: Ipv4Addr::new(127, 128, 0, 1),
            ports: vec![NetworkedPort {
                target: 8080,
                protocol: Protocol::Tcp,
                backends: backends
                    .iter()
                    .map(|task| Backend {
                        task_id: (*task).into(),
                        node_id: "n1".into(),
                        addr: "10.0.0.1:30000".into(),
                    })
                    .collect(),
            }],
        }]
    }

    fn limits() -> Limits {
        Limits {
            per_port: 3,
            total: 10,
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_new_table_keeps_a_ports_caps_and_counters_and_swaps_its_backends() {
        let key = PortKey {
            service_id: "s-api".into(),
            target: 8080,
            task: None,
        };
        let node = Slots::new(10);
        let mut routes = Routes::default();
        routes.update(&services(&["t1"]), &limits(), &node);
        let first = routes.get(&key).unwrap().clone();
        first.port.turns.fetch_add(5, Ordering::Relaxed);
        routes.update(&services(&["t1", "t2"]), &limits(), &node);
        let second = routes.get(&key).unwrap();
        assert!(Arc::ptr_eq(&first.port, &second.port));
        assert_eq!(second.route.task_ids(), ["t1", "t2"]);
        assert_eq!(
            first.route.task_ids(),
            ["t1"],
            "connections under way keep their route"
        );
        routes.update(&[], &limits(), &node);
        assert!(routes.get(&key).is_none());
    }

    #[test]
    fn a_task_gets_a_route_to_itself_alone_sharing_its_ports_state_and_load() {
        let key = |task: Option<&str>| PortKey {
            service_id: "s-api".into(),
            target: 8080,
            task: task.map(str::to_owned),
        };
        let mut routes = Routes::default();
        routes.update(&services(&["t1", "t2"]), &limits(), &Slots::new(10));
        let service = routes.get(&key(None)).unwrap();
        let t2 = routes.get(&key(Some("t2"))).unwrap();
        assert_eq!(t2.route.task_ids(), ["t2"]);
        assert!(
            Arc::ptr_eq(&service.port, &t2.port),
            "one port's caps and counters"
        );
        assert!(
            Arc::ptr_eq(&service.route.targets[1].active, &t2.route.targets[0].active),
            "the service's balancing counts connections to the task's address"
        );
        routes.update(&services(&["t1"]), &limits(), &Slots::new(10));
        assert!(routes.get(&key(Some("t2"))).is_none(), "a task gone has no route");
    }
}
