//! What one container on service networks may reach, given the cluster's
//! table and this node's task addresses: the names its resolver answers
//! and the virtual and task addresses and ports it is forwarded from.
//! Decided from plain data: isolation between networks is exactly this
//! function.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, SocketAddrV4},
};

use shoal_proto::{service::Protocol, wire::NetworkedService};

use super::{dns::names::Names, tasks::TaskAddresses};

/// One target port of one service, balanced over its tasks, or of one of
/// its tasks: the key of the node's routes, so that every container
/// reaching it shares one route (and its load counts).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    pub service_id: String,
    pub target: u16,
    /// The one task a task address reaches; `None` for the virtual address.
    pub task: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub names: Names,
    /// Each virtual or task address and target port the container may
    /// connect to.
    pub destinations: BTreeMap<SocketAddrV4, PortKey>,
}

/// What a container on `networks` reaches among `services`, whose tasks
/// have `tasks`' addresses. A service is shared when it is on one of the
/// container's networks; `NAME.NETWORK` and `tasks.NAME.NETWORK` resolve
/// only through a network both are on. `tasks.NAME` lists the service's
/// ready tasks (its ports' backends) that have an address, in address
/// order. UDP ports are left out: only TCP is forwarded.
pub fn reach(networks: &[String], services: &[NetworkedService], tasks: &TaskAddresses) -> Reach {
    let mut reach = Reach::default();
    let mine: BTreeSet<String> = networks.iter().map(|n| n.to_ascii_lowercase()).collect();
    for service in services {
        let name = service.service_name.to_ascii_lowercase();
        reach.names.services.insert(name.clone());
        let theirs: BTreeSet<String> = service.networks.iter().map(|n| n.to_ascii_lowercase()).collect();
        reach.names.networks.extend(theirs.iter().cloned());
        let shared: Vec<&String> = mine.intersection(&theirs).collect();
        if shared.is_empty() {
            continue;
        }
        // The first service to claim a name or address keeps it: the server
        // never hands out one twice, and the outcome must not depend on
        // anything but the table's order if it did.
        let task_addresses: BTreeSet<Ipv4Addr> = service
            .ports
            .iter()
            .flat_map(|port| &port.backends)
            .filter_map(|backend| tasks.get(&backend.task_id))
            .collect();
        let task_addresses: Vec<Ipv4Addr> = task_addresses.into_iter().collect();
        let suffixes =
            std::iter::once(String::new()).chain(shared.iter().map(|network| format!(".{network}")));
        for suffix in suffixes {
            let names = &mut reach.names.local;
            names
                .entry(format!("{name}{suffix}"))
                .or_insert_with(|| vec![service.address]);
            names
                .entry(format!("tasks.{name}{suffix}"))
                .or_insert_with(|| task_addresses.clone());
        }
        for port in service.ports.iter().filter(|p| p.protocol == Protocol::Tcp) {
            let key = |task: Option<&String>| PortKey {
                service_id: service.service_id.clone(),
                target: port.target,
                task: task.cloned(),
            };
            reach
                .destinations
                .entry(SocketAddrV4::new(service.address, port.target))
                .or_insert_with(|| key(None));
            for backend in &port.backends {
                if let Some(address) = tasks.get(&backend.task_id) {
                    reach
                        .destinations
                        .entry(SocketAddrV4::new(address, port.target))
                        .or_insert_with(|| key(Some(&backend.task_id)));
                }
            }
        }
    }
    reach
}

#[cfg(test)]
mod tests {
    use shoal_proto::wire::{Backend, NetworkedPort};

    use super::*;

    fn service(
        id: &str,
        name: &str,
        networks: &[&str],
        last: u8,
        ports: &[(u16, Protocol)],
        tasks: &[&str],
    ) -> NetworkedService {
        NetworkedService {
            service_id: id.into(),
            service_name: name.into(),
            networks: networks.iter().map(|n| (*n).into()).collect(),
            address: Ipv4Addr::new(127, 128, 0, last),
            ports: ports
                .iter()
                .map(|&(target, protocol)| NetworkedPort {
                    target,
                    protocol,
                    backends: tasks
                        .iter()
                        .map(|task| Backend {
                            task_id: (*task).into(),
                            node_id: "n1".into(),
                            addr: "10.0.0.1:30000".into(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn table() -> Vec<NetworkedService> {
        vec![
            service(
                "s-api",
                "api",
                &["backend", "frontend"],
                1,
                &[(8080, Protocol::Tcp)],
                &["api-1", "api-2"],
            ),
            service(
                "s-db",
                "db",
                &["backend"],
                2,
                &[(5432, Protocol::Tcp), (5353, Protocol::Udp)],
                &["db-1"],
            ),
            service(
                "s-pay",
                "billing",
                &["payments"],
                3,
                &[(8080, Protocol::Tcp)],
                &["billing-1"],
            ),
        ]
    }

    /// api-1 127.64.0.1, api-2 .2, db-1 .3, billing-1 .4.
    fn tasks() -> TaskAddresses {
        TaskAddresses::default().assign(["api-1", "api-2", "db-1", "billing-1"])
    }

    fn on(networks: &[&str]) -> Reach {
        let networks: Vec<String> = networks.iter().map(|n| (*n).into()).collect();
        reach(&networks, &table(), &tasks())
    }

    fn names(reach: &Reach) -> Vec<&str> {
        reach.names.local.keys().map(String::as_str).collect()
    }

    fn destinations(reach: &Reach) -> Vec<(String, String)> {
        reach
            .destinations
            .iter()
            .map(|(address, key)| {
                let to = key.task.clone().unwrap_or_else(|| key.service_id.clone());
                (address.to_string(), to)
            })
            .collect()
    }

    #[test]
    fn a_container_reaches_the_services_on_its_networks_only() {
        let web = on(&["frontend"]);
        assert_eq!(
            names(&web),
            ["api", "api.frontend", "tasks.api", "tasks.api.frontend"]
        );
        assert_eq!(
            destinations(&web),
            [
                ("127.64.0.1:8080".to_owned(), "api-1".to_owned()),
                ("127.64.0.2:8080".to_owned(), "api-2".to_owned()),
                ("127.128.0.1:8080".to_owned(), "s-api".to_owned()),
            ]
        );
        // It still knows the other names are the cluster's.
        assert!(web.names.services.contains("billing"));
        assert!(web.names.networks.contains("payments"));
    }

    #[test]
    fn tasks_name_lists_every_task_with_an_address() {
        let web = on(&["frontend"]);
        let api_tasks = vec![Ipv4Addr::new(127, 64, 0, 1), Ipv4Addr::new(127, 64, 0, 2)];
        assert_eq!(web.names.local["tasks.api"], api_tasks);
        assert_eq!(web.names.local["tasks.api.frontend"], api_tasks);
        assert_eq!(web.names.local["api"], [Ipv4Addr::new(127, 128, 0, 1)]);
        let unaddressed = reach(&["frontend".into()], &table(), &TaskAddresses::default());
        assert!(
            unaddressed.names.local["tasks.api"].is_empty(),
            "the name is there, empty"
        );
    }

    #[test]
    fn names_by_network_only_through_networks_both_are_on() {
        let api = on(&["backend", "frontend"]);
        assert_eq!(
            names(&api),
            [
                "api",
                "api.backend",
                "api.frontend",
                "db",
                "db.backend",
                "tasks.api",
                "tasks.api.backend",
                "tasks.api.frontend",
                "tasks.db",
                "tasks.db.backend"
            ]
        );
    }

    #[test]
    fn udp_ports_get_no_destination() {
        let api = on(&["backend"]);
        let ports: Vec<u16> = api.destinations.keys().map(SocketAddrV4::port).collect();
        assert_eq!(ports, [8080, 8080, 5432, 8080, 5432]);
        assert!(
            !destinations(&api)
                .iter()
                .any(|(address, _)| address.ends_with(":5353"))
        );
    }

    #[test]
    fn a_container_on_no_shared_network_reaches_nothing() {
        let lone = on(&["elsewhere"]);
        assert!(lone.names.local.is_empty() && lone.destinations.is_empty());
        assert!(on(&[]).destinations.is_empty());
    }

    #[test]
    fn the_first_service_to_claim_an_address_keeps_it() {
        let mut services = table();
        services.push(service(
            "s-dup",
            "dup",
            &["backend"],
            1,
            &[(8080, Protocol::Tcp)],
            &[],
        ));
        let api = reach(&["backend".into()], &services, &tasks());
        let key = &api.destinations[&SocketAddrV4::new(Ipv4Addr::new(127, 128, 0, 1), 8080)];
        assert_eq!(key.service_id, "s-api");
        assert!(api.names.local.contains_key("dup"), "the name still resolves");
    }
}
