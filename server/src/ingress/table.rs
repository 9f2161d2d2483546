//! Which tasks a service's ports forward to. Pure: services, their tasks
//! and the reachable nodes in, the ports with their backends out. The one
//! choice of backends serves both the ingress-published ports (here) and
//! the ports of services on networks (`networked`).
//!
//! A node reports the host port Docker mapped for each task, and nothing
//! else of the backend: the address is the one the node has on record, so a
//! node can point the mesh only at itself, never at another node, a
//! loopback or a metadata service.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
};

use shoal_proto::{
    service::{DesiredState, Protocol, PublishMode, ServiceSpec, TaskState},
    wire::{Backend, IngressPort},
};

use crate::store::TaskRecord;

/// A service as the mesh needs it.
pub struct Published<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub spec: &'a ServiceSpec,
    pub tasks: &'a [TaskRecord],
    /// Its virtual address, for the tasks on its networks.
    pub address: Ipv4Addr,
}

/// How backends are chosen, for every port of every service in one table.
pub struct Backends<'a> {
    node_addresses: &'a HashMap<String, IpAddr>,
    /// A task "mapped" to a port the mesh itself listens on would send the
    /// mesh's connections back into it, round and round.
    mesh_ports: HashSet<u16>,
}

impl<'a> Backends<'a> {
    pub fn new(services: &[Published], node_addresses: &'a HashMap<String, IpAddr>) -> Self {
        let mesh_ports = services
            .iter()
            .flat_map(|s| &s.spec.ports)
            .filter(|p| p.mode == PublishMode::Ingress)
            .filter_map(|p| p.published)
            .collect();
        Self {
            node_addresses,
            mesh_ports,
        }
    }

    /// The tasks that may take a connection on their container port
    /// `target`: wanted running, running, ready (healthy, or without a
    /// health check) and on a node that is up, at the node's address and
    /// the host port the task mapped. A task being stopped is left out at
    /// once: that is what drains it. Ordered by task id.
    pub fn of(&self, tasks: &[TaskRecord], target: u16, protocol: Protocol) -> Vec<Backend> {
        let mut backends: Vec<Backend> = tasks
            .iter()
            .filter(|r| {
                r.task.desired_state == DesiredState::Running
                    && r.task.state == TaskState::Running
                    && r.ready_since.is_some()
            })
            .filter_map(|r| {
                let node_id = r.task.node_id.as_deref()?;
                let node_ip = *self.node_addresses.get(node_id)?;
                let binding = r.task.ports.iter().find(|b| {
                    b.target == target
                        && b.protocol == protocol
                        && b.host_port != 0
                        && !self.mesh_ports.contains(&b.host_port)
                })?;
                Some(Backend {
                    task_id: r.task.id.clone(),
                    node_id: node_id.to_owned(),
                    addr: SocketAddr::new(node_ip, binding.host_port).to_string(),
                })
            })
            .collect();
        backends.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        backends
    }
}

/// Every ingress port of every service, each with its backends.
pub fn build(services: &[Published], backends: &Backends) -> Vec<IngressPort> {
    let mut ports = Vec::new();
    for service in services {
        for port in &service.spec.ports {
            let (PublishMode::Ingress, Some(published)) = (port.mode, port.published) else {
                continue;
            };
            ports.push(IngressPort {
                published,
                protocol: port.protocol,
                service_id: service.id.to_owned(),
                service_name: service.name.to_owned(),
                backends: backends.of(service.tasks, port.target, port.protocol),
            });
        }
    }
    ports.sort_by_key(|p| (p.published, p.protocol));
    ports
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;
    use shoal_proto::{service::Task, wire::PortBinding};

    use super::*;

    fn spec() -> ServiceSpec {
        serde_json::from_value(json!({
            "name": "web", "image": "shoal-demo:v1", "replicas": 3,
            "ports": [
                { "target": 8080, "published": 18080 },
                { "target": 9090, "published": 19090, "mode": "host" },
                { "target": 7070 },
            ],
        }))
        .unwrap()
    }

    pub fn task(
        id: &str,
        node: &str,
        state: TaskState,
        desired: DesiredState,
        ready: bool,
        host_ip: &str,
    ) -> TaskRecord {
        TaskRecord {
            task: Task {
                id: id.into(),
                service_id: "s1".into(),
                service_name: "web".into(),
                slot: Some(1),
                node_id: Some(node.into()),
                revision: 1,
                desired_state: desired,
                state,
                message: String::new(),
                error: None,
                container_id: None,
                exit_code: None,
                healthy: None,
                ports: vec![PortBinding {
                    target: 8080,
                    protocol: Protocol::Tcp,
                    host_ip: host_ip.into(),
                    host_port: 32768,
                }],
                created_at: 0,
                updated_at: 0,
            },
            reserved_nano_cpus: 0,
            reserved_memory: 0,
            host_ports: Vec::new(),
            ready_since: ready.then_some(1),
            health_starting: false,
            ever_unhealthy: false,
        }
    }

    #[test]
    fn only_ready_tasks_wanted_running_on_known_nodes_are_backends() {
        use DesiredState::{Running as Want, Shutdown as Stop};
        use TaskState::{Running, Starting};
        let spec = spec();
        let tasks = [
            task("a", "n1", Running, Want, true, "127.0.0.2"),
            task("b", "n2", Running, Want, true, "0.0.0.0"),
            task("c", "n1", Running, Want, false, "127.0.0.2"),
            task("d", "n1", Starting, Want, false, "127.0.0.2"),
            task("e", "n1", Running, Stop, true, "127.0.0.2"),
            task("f", "gone", Running, Want, true, "127.0.0.9"),
        ];
        let nodes = addresses(&[("n1", "127.0.0.2"), ("n2", "10.0.0.3")]);
        let ports = ports_of(&spec, &tasks, &nodes);
        // The host-mode port and the unpublished one are not the mesh's.
        assert_eq!(ports.len(), 1);
        assert_eq!((ports[0].published, ports[0].protocol), (18080, Protocol::Tcp));
        let backends: Vec<(&str, &str)> = ports[0]
            .backends
            .iter()
            .map(|b| (b.task_id.as_str(), b.addr.as_str()))
            .collect();
        assert_eq!(backends, [("a", "127.0.0.2:32768"), ("b", "10.0.0.3:32768")]);
    }

    fn ports_of(
        spec: &ServiceSpec,
        tasks: &[TaskRecord],
        nodes: &HashMap<String, IpAddr>,
    ) -> Vec<IngressPort> {
        let services = [Published {
            id: "s1",
            name: "web",
            spec,
            tasks,
            address: Ipv4Addr::new(127, 128, 0, 1),
        }];
        build(&services, &Backends::new(&services, nodes))
    }

    pub fn addresses(pairs: &[(&str, &str)]) -> HashMap<String, IpAddr> {
        pairs
            .iter()
            .map(|(id, ip)| ((*id).to_owned(), ip.parse().unwrap()))
            .collect()
    }

    fn backends_of(tasks: &[TaskRecord], nodes: &HashMap<String, IpAddr>) -> Vec<String> {
        let spec = spec();
        let ports = ports_of(&spec, tasks, nodes);
        ports[0].backends.iter().map(|b| b.addr.clone()).collect()
    }

    #[test]
    fn a_node_cannot_point_the_mesh_anywhere_but_at_itself() {
        use DesiredState::Running as Want;
        use TaskState::Running;
        let nodes = addresses(&[("n1", "10.0.0.2"), ("n2", "10.0.0.3")]);
        // Whatever address a node reports, its own recorded one is used.
        for lie in ["169.254.169.254", "127.0.0.1", "10.0.0.3", "::1"] {
            let tasks = [task("a", "n1", Running, Want, true, lie)];
            assert_eq!(backends_of(&tasks, &nodes), ["10.0.0.2:32768"], "{lie}");
        }
        // A port the mesh listens on, or none at all, is no backend.
        for port in [18080, 0] {
            let mut looping = task("a", "n1", Running, Want, true, "0.0.0.0");
            looping.task.ports[0].host_port = port;
            assert!(backends_of(&[looping], &nodes).is_empty(), "{port}");
        }
    }

    #[test]
    fn an_ipv6_node_gets_a_bracketed_backend_address() {
        let nodes = addresses(&[("n1", "fd00::2")]);
        let tasks = [task(
            "a",
            "n1",
            TaskState::Running,
            DesiredState::Running,
            true,
            "::",
        )];
        assert_eq!(backends_of(&tasks, &nodes), ["[fd00::2]:32768"]);
    }
}
