//! What the resolver in one container answers for a name: the virtual
//! address of a service it shares a network with (or, for `tasks.NAME`,
//! its tasks' addresses), "no such name" for the
//! cluster's other services (networks isolate), or "ask the host's
//! resolver" for everything else. Decided from plain data, so that
//! isolation is tested without sockets.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
};

use super::message::{CLASS_ANY, CLASS_IN, Query, TYPE_A, TYPE_ANY};

/// How long a client may keep an answer. A virtual address is fixed for its
/// service's life, but a service that leaves a network must stop resolving
/// soon after, and `tasks.NAME` changes with every task started or
/// stopped; a few seconds costs one query per lookup burst.
pub const TTL: u32 = 5;

/// The names one container may ask about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// `NAME`, `NAME.NETWORK` (its virtual address), `tasks.NAME` and
    /// `tasks.NAME.NETWORK` (its tasks' addresses, maybe none) of every
    /// service sharing a network with the container, in lower case.
    pub local: BTreeMap<String, Vec<Ipv4Addr>>,
    /// Names of every service in the cluster's table, and of every network:
    /// a name made of them is the cluster's, and is never asked elsewhere.
    pub services: BTreeSet<String>,
    pub networks: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An A record for each address: none for a service without a ready
    /// task, an empty answer rather than "no such name", since the name
    /// is there and tasks come and go.
    Addresses(Vec<Ipv4Addr>),
    /// The name exists but has no record of the type asked (AAAA, MX…):
    /// an empty answer, not "no such name", or a client asking for A and
    /// AAAA at once would give up on the name.
    NoData,
    NoSuchName,
    /// Not a cluster name: the host's resolver answers it.
    Forward,
}

impl Names {
    pub fn decide(&self, query: &Query) -> Decision {
        if let Some(addresses) = self.local.get(&query.name) {
            let internet = matches!(query.qclass, CLASS_IN | CLASS_ANY);
            return if internet && matches!(query.qtype, TYPE_A | TYPE_ANY) {
                Decision::Addresses(addresses.clone())
            } else {
                Decision::NoData
            };
        }
        if self.is_cluster_name(&query.name) {
            Decision::NoSuchName
        } else {
            Decision::Forward
        }
    }

    /// `SERVICE`, `SERVICE.NETWORK`, `tasks.SERVICE` or
    /// `tasks.SERVICE.NETWORK` for any service and network of the cluster.
    /// Those a container may see are in `local`; asking the host's resolver
    /// for the others could answer them from outside the cluster.
    fn is_cluster_name(&self, name: &str) -> bool {
        let name = name.strip_prefix("tasks.").unwrap_or(name);
        match name.split_once('.') {
            None => self.services.contains(name),
            Some((service, network)) => self.services.contains(service) && self.networks.contains(network),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::dns::message::{parse, tests::query};

    const API: Ipv4Addr = Ipv4Addr::new(127, 128, 0, 1);
    const API_TASKS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 64, 0, 1), Ipv4Addr::new(127, 64, 0, 2)];

    /// A container on `backend` sharing it with `api` (two tasks) and `idle`
    /// (none ready); `billing` is on `payments` only.
    fn names() -> Names {
        Names {
            local: BTreeMap::from([
                ("api".into(), vec![API]),
                ("api.backend".into(), vec![API]),
                ("tasks.api".into(), API_TASKS.to_vec()),
                ("tasks.api.backend".into(), API_TASKS.to_vec()),
                ("tasks.idle".into(), Vec::new()),
            ]),
            services: BTreeSet::from(["api".into(), "billing".into()]),
            networks: BTreeSet::from(["backend".into(), "payments".into()]),
        }
    }

    fn decide(name: &str, qtype: u16) -> Decision {
        names().decide(&parse(&query(1, name, qtype)).unwrap())
    }

    #[test]
    fn a_shared_service_resolves_by_name_and_name_dot_network_in_any_case() {
        let api = Decision::Addresses(vec![API]);
        assert_eq!(decide("api", TYPE_A), api);
        assert_eq!(decide("api.backend", TYPE_A), api);
        assert_eq!(decide("API.Backend.", TYPE_A), api);
        assert_eq!(decide("api", TYPE_ANY), api);
    }

    #[test]
    fn other_record_types_of_a_shared_service_are_empty_not_missing() {
        const AAAA: u16 = 28;
        assert_eq!(decide("api", AAAA), Decision::NoData);
    }

    #[test]
    fn services_on_networks_not_shared_do_not_resolve() {
        assert_eq!(decide("billing", TYPE_A), Decision::NoSuchName);
        assert_eq!(decide("billing.payments", TYPE_A), Decision::NoSuchName);
        // Nor through a network the container is on but the service is not.
        assert_eq!(decide("billing.backend", TYPE_A), Decision::NoSuchName);
        assert_eq!(decide("api.payments", TYPE_A), Decision::NoSuchName);
    }

    #[test]
    fn tasks_name_lists_a_shared_services_tasks_and_nothing_of_the_others() {
        let tasks = Decision::Addresses(API_TASKS.to_vec());
        assert_eq!(decide("tasks.api", TYPE_A), tasks);
        assert_eq!(decide("Tasks.API.backend", TYPE_A), tasks);
        assert_eq!(decide("tasks.idle", TYPE_A), Decision::Addresses(Vec::new()));
        assert_eq!(decide("tasks.billing", TYPE_A), Decision::NoSuchName);
        assert_eq!(decide("tasks.billing.payments", TYPE_A), Decision::NoSuchName);
        assert_eq!(decide("tasks.api.payments", TYPE_A), Decision::NoSuchName);
    }

    #[test]
    fn every_other_name_goes_to_the_hosts_resolver() {
        assert_eq!(decide("example.com", TYPE_A), Decision::Forward);
        assert_eq!(decide("api.example.com", TYPE_A), Decision::Forward);
        assert_eq!(decide("backend", TYPE_A), Decision::Forward);
        assert_eq!(decide("tasks", TYPE_A), Decision::Forward);
    }
}
