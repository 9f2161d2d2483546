//! Whether one more connection may be proxied: under its port's cap and the
//! node's. Shared by the published ports' listeners and the service
//! networks' (which count against the same node-wide cap, since they spend
//! the same process's descriptors).
//!
//! A connection past a cap is accepted and closed at once, never left
//! waiting; the log says so at most every few seconds per listener, so a
//! flood does not flood the log too.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::time::Instant;

use super::slots::{Slot, Slots};

/// A listener refusing connections says so at most this often, with how
/// many it refused since.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What bounds one port's connections.
#[derive(Debug)]
pub struct Caps {
    pub port: Arc<Slots>,
    pub node: Arc<Slots>,
    pub idle_timeout: Duration,
}

/// Which cap a refused connection met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    Port(usize),
    Node(usize),
}

impl Caps {
    /// A slot under both caps, or which one is full. The port's comes first:
    /// a port at its own cap then leaves the node's slots to other ports.
    pub fn admit(&self) -> Result<(Slot, Slot), Full> {
        let port = self.port.try_take().ok_or(Full::Port(self.port.cap()))?;
        let node = self.node.try_take().ok_or(Full::Node(self.node.cap()))?;
        Ok((port, node))
    }
}

/// Says that a listener refuses connections, and why, without saying it
/// for every one of them.
pub struct RefusalLog {
    /// Whose listener: "ingress", "service network".
    what: &'static str,
    last: Option<Instant>,
    unsaid: u64,
}

impl RefusalLog {
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            last: None,
            unsaid: 0,
        }
    }

    pub fn refused(&mut self, addr: SocketAddr, full: Full) {
        self.unsaid += 1;
        if self
            .last
            .is_some_and(|last| last.elapsed() < REFUSAL_LOG_INTERVAL)
        {
            return;
        }
        let cap = match full {
            Full::Port(cap) => format!("the port's cap of {cap}"),
            Full::Node(cap) => format!("the node's cap of {cap} on all ports together"),
        };
        tracing::warn!(
            %addr,
            "{} closed {} new connection(s) at once: {cap} connections are open (said at most every {} s)",
            self.what,
            self.unsaid,
            REFUSAL_LOG_INTERVAL.as_secs()
        );
        self.last = Some(Instant::now());
        self.unsaid = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_cap_is_checked_before_the_node_cap() {
        let caps = Caps {
            port: Slots::new(1),
            node: Slots::new(2),
            idle_timeout: Duration::from_secs(1),
        };
        let first = caps.admit().unwrap();
        assert_eq!(caps.admit().unwrap_err(), Full::Port(1));
        drop(first);
        let other_port = Caps {
            port: Slots::new(5),
            node: Arc::clone(&caps.node),
            idle_timeout: Duration::from_secs(1),
        };
        let _a = caps.admit().unwrap();
        let _b = other_port.admit().unwrap();
        assert_eq!(other_port.admit().unwrap_err(), Full::Node(2));
    }
}
