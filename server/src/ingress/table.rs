//! Which tasks each ingress-published port forwards to. Pure: services,
//! their tasks and the reachable nodes in, the ports with their backends out.

use std::collections::HashMap;

use shoal_proto::{
    service::{DesiredState, PublishMode, ServiceSpec, TaskState},
    wire::{Backend, IngressPort},
};

use crate::store::TaskRecord;

/// A service as the mesh needs it.
pub struct Published<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub spec: &'a ServiceSpec,
    pub tasks: &'a [TaskRecord],
}

/// Every ingress port of every service, each with the tasks that may take a
/// connection: wanted running, running, ready (healthy, or without a
/// health check) and on a node that is up. A task being stopped is left out
/// at once: that is what drains it.
pub fn build(services: &[Published], node_addresses: &HashMap<String, String>) -> Vec<IngressPort> {
    let mut ports = Vec::new();
    for service in services {
        for port in &service.spec.ports {
            let (PublishMode::Ingress, Some(published)) = (port.mode, port.published) else {
                continue;
            };
            let mut backends: Vec<Backend> = service
                .tasks
                .iter()
                .filter(|r| {
                    r.task.desired_state == DesiredState::Running
                        && r.task.state == TaskState::Running
                        && r.ready_since.is_some()
                })
                .filter_map(|r| {
                    let node_id = r.task.node_id.as_deref()?;
                    let node_address = node_addresses.get(node_id)?;
                    let binding = r
                        .task
                        .ports
                        .iter()
                        .find(|b| b.target == port.target && b.protocol == port.protocol)?;
                    Some(Backend {
                        task_id: r.task.id.clone(),
                        node_id: node_id.to_owned(),
                        addr: format!(
                            "{}:{}",
                            backend_ip(&binding.host_ip, node_address),
                            binding.host_port
                        ),
                    })
                })
                .collect();
            backends.sort_by(|a, b| a.task_id.cmp(&b.task_id));
            ports.push(IngressPort {
                published,
                protocol: port.protocol,
                service_id: service.id.to_owned(),
                service_name: service.name.to_owned(),
                backends,
            });
        }
    }
    ports.sort_by_key(|p| (p.published, p.protocol));
    ports
}

/// The address other nodes reach a container port on: the IP it is bound
/// to, or the node's own address when it is bound to every interface.
fn backend_ip<'a>(host_ip: &'a str, node_address: &'a str) -> &'a str {
    match host_ip {
        "" | "0.0.0.0" | "::" => node_address.split(':').next().unwrap_or(node_address),
        specific => specific,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shoal_proto::{
        service::{Protocol, Task},
        wire::PortBinding,
    };

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

    fn task(
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
        let nodes = HashMap::from([
            ("n1".to_owned(), "127.0.0.2".to_owned()),
            ("n2".to_owned(), "10.0.0.3:7946".to_owned()),
        ]);
        let ports = build(
            &[Published {
                id: "s1",
                name: "web",
                spec: &spec,
                tasks: &tasks,
            }],
            &nodes,
        );
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
}
