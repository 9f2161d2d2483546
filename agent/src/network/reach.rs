//! What one container on service networks may reach, given the cluster's
//! table: the names its resolver answers and the virtual addresses and
//! ports it is forwarded from. Decided from plain data: isolation between
//! networks is exactly this function.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddrV4,
};

use shoal_proto::{service::Protocol, wire::NetworkedService};

use super::dns::names::Names;

/// One target port of one service: the key of the node's routes, so that
/// every container reaching it shares one route (and its load counts).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    pub service_id: String,
    pub target: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub names: Names,
    /// Each virtual address and target port the container may connect to.
    pub destinations: BTreeMap<SocketAddrV4, PortKey>,
}

/// What a container on `networks` reaches among `services`. A service is
/// shared when it is on one of the container's networks; `NAME.NETWORK`
/// resolves only through a network both are on. UDP ports are left out:
/// virtual addresses forward TCP only.
pub fn reach(networks: &[String], services: &[NetworkedService]) -> Reach {
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
        reach.names.local.entry(name.clone()).or_insert(service.address);
        for network in shared {
            reach
                .names
                .local
                .entry(format!("{name}.{network}"))
                .or_insert(service.address);
        }
        for port in service.ports.iter().filter(|p| p.protocol == Protocol::Tcp) {
            reach
                .destinations
                .entry(SocketAddrV4::new(service.address, port.target))
                .or_insert_with(|| PortKey {
                    service_id: service.service_id.clone(),
                    target: port.target,
                });
        }
    }
    reach
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use shoal_proto::wire::NetworkedPort;

    use super::*;

    fn service(
        id: &str,
        name: &str,
        networks: &[&str],
        last: u8,
        ports: &[(u16, Protocol)],
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
                    backends: Vec::new(),
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
            ),
            service(
                "s-db",
                "db",
                &["backend"],
                2,
                &[(5432, Protocol::Tcp), (5353, Protocol::Udp)],
            ),
            service("s-pay", "billing", &["payments"], 3, &[(8080, Protocol::Tcp)]),
        ]
    }

    fn names(reach: &Reach) -> Vec<&str> {
        reach.names.local.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_container_reaches_the_services_on_its_networks_only() {
        let web = reach(&["frontend".into()], &table());
        assert_eq!(names(&web), ["api", "api.frontend"]);
        let destinations: Vec<_> = web
            .destinations
            .iter()
            .map(|(a, k)| (a.to_string(), k.service_id.as_str()))
            .collect();
        assert_eq!(destinations, [("127.128.0.1:8080".to_owned(), "s-api")]);
        // It still knows the other names are the cluster's.
        assert!(web.names.services.contains("billing"));
        assert!(web.names.networks.contains("payments"));
    }

    #[test]
    fn names_by_network_only_through_networks_both_are_on() {
        let api = reach(&["backend".into(), "frontend".into()], &table());
        assert_eq!(
            names(&api),
            ["api", "api.backend", "api.frontend", "db", "db.backend"]
        );
    }

    #[test]
    fn udp_ports_get_no_destination() {
        let api = reach(&["backend".into()], &table());
        let ports: Vec<u16> = api.destinations.keys().map(SocketAddrV4::port).collect();
        assert_eq!(ports, [8080, 5432]);
    }

    #[test]
    fn a_container_on_no_shared_network_reaches_nothing() {
        let lone = reach(&["elsewhere".into()], &table());
        assert!(lone.names.local.is_empty() && lone.destinations.is_empty());
        assert!(reach(&[], &table()).destinations.is_empty());
    }

    #[test]
    fn the_first_service_to_claim_an_address_keeps_it() {
        let mut services = table();
        services.push(service("s-dup", "dup", &["backend"], 1, &[(8080, Protocol::Tcp)]));
        let api = reach(&["backend".into()], &services);
        let key = &api.destinations[&SocketAddrV4::new(Ipv4Addr::new(127, 128, 0, 1), 8080)];
        assert_eq!(key.service_id, "s-api");
        assert!(api.names.local.contains_key("dup"), "the name still resolves");
    }
}
