//! What a new ingress table changes, decided from plain data: which ports
//! start listening, which keep their listener (and only get new backends),
//! which stop. Keeping a listener matters: re-binding a port would refuse
//! connections for a moment and cut the counters.

use std::collections::BTreeSet;

use shoal_proto::{service::Protocol, wire::IngressPort};

/// A listener's identity: a port stays the same listener for as long as the
/// table publishes it with the same protocol, whichever service owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    pub published: u16,
    pub protocol: Protocol,
}

impl PortKey {
    pub fn of(port: &IngressPort) -> Self {
        Self {
            published: port.published,
            protocol: port.protocol,
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan<'a> {
    pub open: Vec<&'a IngressPort>,
    pub keep: Vec<&'a IngressPort>,
    pub close: Vec<PortKey>,
    /// Later entries for a port already in the table: the server should
    /// never send them, and the first one wins so that the outcome does not
    /// depend on anything but the table's order.
    pub duplicates: Vec<&'a IngressPort>,
}

pub fn plan<'a>(current: &BTreeSet<PortKey>, table: &'a [IngressPort]) -> Plan<'a> {
    let mut plan = Plan::default();
    let mut seen = BTreeSet::new();
    for port in table {
        let key = PortKey::of(port);
        if !seen.insert(key) {
            plan.duplicates.push(port);
        } else if current.contains(&key) {
            plan.keep.push(port);
        } else {
            plan.open.push(port);
        }
    }
    plan.close = current.difference(&seen).copied().collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(published: u16, protocol: Protocol, service: &str) -> IngressPort {
        IngressPort {
            published,
            protocol,
            service_id: format!("id-{service}"),
            service_name: service.into(),
            backends: vec![],
        }
    }

    fn key(published: u16, protocol: Protocol) -> PortKey {
        PortKey { published, protocol }
    }

    fn published(ports: &[&IngressPort]) -> Vec<u16> {
        ports.iter().map(|p| p.published).collect()
    }

    #[test]
    fn new_ports_open_known_ports_keep_their_listener_and_missing_ports_close() {
        let current = BTreeSet::from([key(8080, Protocol::Tcp), key(9090, Protocol::Tcp)]);
        let table = [port(8080, Protocol::Tcp, "web"), port(7070, Protocol::Tcp, "api")];
        let plan = plan(&current, &table);
        assert_eq!(published(&plan.open), [7070]);
        assert_eq!(published(&plan.keep), [8080]);
        assert_eq!(plan.close, [key(9090, Protocol::Tcp)]);
        assert!(plan.duplicates.is_empty());
    }

    #[test]
    fn a_port_that_changes_protocol_is_another_listener() {
        let current = BTreeSet::from([key(53, Protocol::Tcp)]);
        let table = [port(53, Protocol::Udp, "dns")];
        let plan = plan(&current, &table);
        assert_eq!(published(&plan.open), [53]);
        assert_eq!(plan.close, [key(53, Protocol::Tcp)]);
    }

    #[test]
    fn a_port_handed_to_another_service_keeps_its_listener() {
        let current = BTreeSet::from([key(8080, Protocol::Tcp)]);
        let table = [port(8080, Protocol::Tcp, "web-v2")];
        let plan = plan(&current, &table);
        assert_eq!(published(&plan.keep), [8080]);
        assert!(plan.open.is_empty() && plan.close.is_empty());
    }

    #[test]
    fn the_first_entry_for_a_port_wins() {
        let table = [
            port(8080, Protocol::Tcp, "web"),
            port(8080, Protocol::Tcp, "other"),
        ];
        let plan = plan(&BTreeSet::new(), &table);
        assert_eq!(plan.open.len(), 1);
        assert_eq!(plan.open[0].service_name, "web");
        assert_eq!(plan.duplicates[0].service_name, "other");
    }

    #[test]
    fn an_empty_table_closes_everything() {
        let current = BTreeSet::from([key(8080, Protocol::Tcp), key(53, Protocol::Udp)]);
        let plan = plan(&current, &[]);
        assert_eq!(plan.close.len(), 2);
        assert!(plan.open.is_empty() && plan.keep.is_empty());
    }
}
