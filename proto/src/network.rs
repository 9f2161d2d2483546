//! Service networks: services on a shared network find each other by name
//! and reach each other through their node's agent, and nothing else does.
//!
//! Every agent answers, inside each container of a task on a network, the
//! names of the services that share one of its networks, and opens each
//! such service's virtual address there. Both live on the container's own
//! loopback, so no address is taken on a host, several agents on one host
//! never collide, and isolation is which listeners a container is given.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{FieldError, Millis};

/// Where a container on a network sends its DNS queries (its
/// `resolv.conf` names it): the agent answers there, inside the container.
pub const RESOLVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 53);

/// Services' virtual addresses are `127.128.0.0` plus the service's index:
/// far from `127.0.0.1`, Docker's `127.0.0.11` and the resolver.
const VIRTUAL_BASE: u32 = u32::from_be_bytes([127, 128, 0, 0]);
/// Indexes available for virtual addresses (127.128.0.1 to 127.255.255.254).
pub const VIRTUAL_ADDRESSES: u32 = (1 << 23) - 2;

pub const NETWORK_NAME_MAX: usize = 63;
pub const NETWORKS_PER_SERVICE_MAX: usize = 16;

/// A network as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// Cross-node hops between agents are wrapped in mutual TLS with the
    /// nodes' certificates.
    pub encrypted: bool,
    /// Tasks receive a PROXY protocol v2 header with the client's address.
    pub proxy_protocol: bool,
    pub created_at: Millis,
    /// Names of the services on it.
    #[serde(default)]
    pub services: Vec<String>,
}

/// `POST /api/v1/networks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNetwork {
    pub name: String,
    #[serde(default)]
    pub encrypted: bool,
    #[serde(default)]
    pub proxy_protocol: bool,
}

impl NewNetwork {
    /// The two options are part of the model but not built yet: a network
    /// that asked for them would silently go without.
    pub fn check(&self) -> Result<(), FieldError> {
        check_network_name("name", &self.name)?;
        let not_yet = |field: &str, what: &str| {
            FieldError::new(
                field,
                format!(
                    "{what} is not available yet (docs/networking.md, Not done yet); \
                     create the network without it"
                ),
            )
        };
        if self.encrypted {
            return Err(not_yet(
                "encrypted",
                "encryption between nodes (mutual TLS on the cross-node hop)",
            ));
        }
        if self.proxy_protocol {
            return Err(not_yet("proxy_protocol", "the PROXY protocol towards tasks"));
        }
        Ok(())
    }
}

/// A DNS label, since tasks resolve `SERVICE.NETWORK`.
pub fn check_network_name(field: &str, name: &str) -> Result<(), FieldError> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let label = !name.is_empty()
        && name.len() <= NETWORK_NAME_MAX
        && name.chars().all(|c| alnum(c) || c == '-')
        && name.starts_with(alnum)
        && !name.ends_with('-');
    if label {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{name:?} is not a network name: use 1 to {NETWORK_NAME_MAX} characters of a-z, 0-9 and '-', \
                 starting with a letter or digit and not ending with '-'"
            ),
        ))
    }
}

/// A service's networks, as its spec lists them.
pub fn check_service_networks(networks: &[String]) -> Result<(), FieldError> {
    if networks.len() > NETWORKS_PER_SERVICE_MAX {
        return Err(FieldError::new(
            "networks",
            format!("a service joins at most {NETWORKS_PER_SERVICE_MAX} networks"),
        ));
    }
    for (at, name) in networks.iter().enumerate() {
        check_network_name(&format!("networks[{at}]"), name)?;
        if networks[..at].contains(name) {
            return Err(FieldError::new(
                format!("networks[{at}]"),
                format!("{name:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// The virtual address with this index (1-based), if it is in the range.
pub fn virtual_address(index: u32) -> Option<Ipv4Addr> {
    (1..=VIRTUAL_ADDRESSES)
        .contains(&index)
        .then(|| Ipv4Addr::from(VIRTUAL_BASE + index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_addresses_stay_clear_of_the_usual_loopback_ones() {
        assert_eq!(virtual_address(1), Some(Ipv4Addr::new(127, 128, 0, 1)));
        assert_eq!(
            virtual_address(VIRTUAL_ADDRESSES),
            Some(Ipv4Addr::new(127, 255, 255, 254))
        );
        assert_eq!(virtual_address(0), None);
        assert_eq!(virtual_address(VIRTUAL_ADDRESSES + 1), None);
    }

    #[test]
    fn options_not_built_yet_are_refused_rather_than_ignored() {
        let mut new = NewNetwork {
            name: "backend".into(),
            encrypted: true,
            proxy_protocol: false,
        };
        assert_eq!(new.check().unwrap_err().field, "encrypted");
        new.encrypted = false;
        new.proxy_protocol = true;
        assert_eq!(new.check().unwrap_err().field, "proxy_protocol");
        new.proxy_protocol = false;
        assert!(new.check().is_ok());
    }

    #[test]
    fn network_names_are_dns_labels_and_listed_once() {
        assert!(check_network_name("name", "backend-1").is_ok());
        for bad in ["", "Backend", "-a", "a-", "a.b", &"a".repeat(64)] {
            assert!(check_network_name("name", bad).is_err(), "{bad:?}");
        }
        let twice = ["a".to_owned(), "b".to_owned(), "a".to_owned()];
        let error = check_service_networks(&twice).unwrap_err();
        assert_eq!(error.field, "networks[2]");
    }
}
