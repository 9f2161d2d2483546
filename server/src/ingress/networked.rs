//! The services on networks as the table carries them: each with its
//! virtual address and, for every target port its spec lists (published
//! or not), the backends chosen exactly as for an ingress port. Pure.

use shoal_proto::wire::{NetworkedPort, NetworkedService};

use super::table::{Backends, Published};

/// Every service that joins at least one network, by name.
pub fn build(services: &[Published], backends: &Backends) -> Vec<NetworkedService> {
    let mut networked: Vec<NetworkedService> = services
        .iter()
        .filter(|s| !s.spec.networks.is_empty())
        .map(|service| {
            let mut ports: Vec<NetworkedPort> = Vec::new();
            for port in &service.spec.ports {
                // A target port published twice is one port inside the network.
                if ports
                    .iter()
                    .any(|p| p.target == port.target && p.protocol == port.protocol)
                {
                    continue;
                }
                ports.push(NetworkedPort {
                    target: port.target,
                    protocol: port.protocol,
                    backends: backends.of(service.tasks, port.target, port.protocol),
                });
            }
            NetworkedService {
                service_id: service.id.to_owned(),
                service_name: service.name.to_owned(),
                networks: service.spec.networks.clone(),
                address: service.address,
                ports,
            }
        })
        .collect();
    networked.sort_by(|a, b| a.service_name.cmp(&b.service_name));
    networked
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use serde_json::json;
    use shoal_proto::{
        service::{DesiredState, Protocol, ServiceSpec, TaskState},
        wire::PortBinding,
    };

    use super::*;
    use crate::{
        ingress::table::{
            self,
            tests::{addresses, task},
        },
        store::TaskRecord,
    };

    fn spec(name: &str, networks: &[&str]) -> ServiceSpec {
        serde_json::from_value(json!({
            "name": name, "image": "shoal-demo:v1", "replicas": 2,
            "networks": networks,
            "ports": [
                { "target": 8080, "published": 18080 },
                { "target": 5432 },
                { "target": 5353, "protocol": "udp" },
            ],
        }))
        .unwrap()
    }

    /// A ready task with a host port for each of `spec`'s ports.
    fn ready(id: &str, node: &str) -> TaskRecord {
        let mut record = task(
            id,
            node,
            TaskState::Running,
            DesiredState::Running,
            true,
            "0.0.0.0",
        );
        record.task.ports = [
            (8080, Protocol::Tcp, 32001),
            (5432, Protocol::Tcp, 32002),
            (5353, Protocol::Udp, 32003),
        ]
        .into_iter()
        .map(|(target, protocol, host_port)| PortBinding {
            target,
            protocol,
            host_ip: "0.0.0.0".into(),
            host_port,
        })
        .collect();
        record
    }

    #[test]
    fn a_networked_service_carries_its_address_and_every_target_port_with_ready_backends() {
        let api = spec("api", &["backend", "front"]);
        let lone = spec("lone", &[]);
        let tasks = [
            ready("a", "n1"),
            ready("b", "n2"),
            task(
                "c",
                "n1",
                TaskState::Running,
                DesiredState::Shutdown,
                true,
                "0.0.0.0",
            ),
        ];
        let nodes = addresses(&[("n1", "10.0.0.2"), ("n2", "10.0.0.3")]);
        let services = [
            Published {
                id: "s1",
                name: "api",
                spec: &api,
                tasks: &tasks,
                address: Ipv4Addr::new(127, 128, 0, 7),
            },
            Published {
                id: "s2",
                name: "lone",
                spec: &lone,
                tasks: &tasks,
                address: Ipv4Addr::new(127, 128, 0, 8),
            },
        ];
        let backends = Backends::new(&services, &nodes);
        let networked = build(&services, &backends);

        // The service on no network is not there.
        assert_eq!(networked.len(), 1);
        let api = &networked[0];
        assert_eq!(
            (api.service_id.as_str(), api.service_name.as_str()),
            ("s1", "api")
        );
        assert_eq!(api.networks, ["backend", "front"]);
        assert_eq!(api.address, Ipv4Addr::new(127, 128, 0, 7));
        let ports: Vec<(u16, Protocol, Vec<&str>)> = api
            .ports
            .iter()
            .map(|p| {
                let addrs = p.backends.iter().map(|b| b.addr.as_str()).collect();
                (p.target, p.protocol, addrs)
            })
            .collect();
        assert_eq!(
            ports,
            [
                (8080, Protocol::Tcp, vec!["10.0.0.2:32001", "10.0.0.3:32001"]),
                (5432, Protocol::Tcp, vec!["10.0.0.2:32002", "10.0.0.3:32002"]),
                (5353, Protocol::Udp, vec!["10.0.0.2:32003", "10.0.0.3:32003"]),
            ]
        );
        // The same tasks as the ingress port of the same target port.
        let ingress = table::build(&services, &backends);
        assert_eq!(ingress[0].backends, api.ports[0].backends);
    }

    #[test]
    fn a_target_port_published_twice_is_one_port_on_the_network() {
        let mut twice = spec("api", &["backend"]);
        twice.ports = serde_json::from_value(json!([
            { "target": 8080, "published": 18080 },
            { "target": 8080, "published": 28080 },
        ]))
        .unwrap();
        let services = [Published {
            id: "s1",
            name: "api",
            spec: &twice,
            tasks: &[],
            address: Ipv4Addr::new(127, 128, 0, 1),
        }];
        let nodes = addresses(&[]);
        let networked = build(&services, &Backends::new(&services, &nodes));
        assert_eq!(networked[0].ports.len(), 1);
        assert!(networked[0].ports[0].backends.is_empty());
    }
}
