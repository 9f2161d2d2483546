//! How many connections to the agent port may be open before they say who
//! they are. Anyone who can reach the port can open connections; until a
//! peer has joined or shown a node's certificate it holds a slot, and past
//! the limits (overall, and per source address) a new connection is closed
//! at once. So a flood holds a bounded number of descriptors and buffers,
//! and a real node from another address still gets in.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// Connections still opening, all sources together.
pub const OPENING_MAX: usize = 512;
/// Connections still opening from one address. Nodes behind one NAT share
/// it, but each holds a slot only for its handshake (milliseconds), and an
/// agent refused for a moment retries.
pub const OPENING_PER_SOURCE: usize = 64;
/// Refusals are logged at most this often, so a flood cannot fill the log.
const WARN_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Counts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
    last_warning: Option<Instant>,
}

/// The gateway's slots, shared by its connections.
#[derive(Clone, Default)]
pub struct Admission {
    counts: Arc<Mutex<Counts>>,
}

/// A slot, held until the peer has identified itself or the connection
/// ends; dropping it frees the slot.
pub struct Slot {
    counts: Arc<Mutex<Counts>>,
    source: IpAddr,
}

impl Admission {
    /// A slot for a new connection from `source`, or `None` when the
    /// connection must be closed.
    pub fn admit(&self, source: IpAddr) -> Option<Slot> {
        let source = source.to_canonical();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let from_source = counts.per_source.get(&source).copied().unwrap_or(0);
        if counts.total >= OPENING_MAX || from_source >= OPENING_PER_SOURCE {
            let now = Instant::now();
            if counts
                .last_warning
                .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
            {
                counts.last_warning = Some(now);
                tracing::warn!(
                    %source,
                    opening = counts.total,
                    from_source,
                    "closing new agent-port connections: too many have not identified themselves \
                     (at most {OPENING_MAX}, {OPENING_PER_SOURCE} per address); is someone flooding the port?"
                );
            }
            return None;
        }
        counts.total += 1;
        *counts.per_source.entry(source).or_default() += 1;
        Some(Slot {
            counts: Arc::clone(&self.counts),
            source,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total -= 1;
        if let Some(count) = counts.per_source.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                counts.per_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_fills_its_share_and_others_still_get_in() {
        let admission = Admission::default();
        let flood: Vec<Slot> = (0..OPENING_PER_SOURCE)
            .map(|_| admission.admit(ip("10.0.0.66")).unwrap())
            .collect();
        assert!(admission.admit(ip("10.0.0.66")).is_none());
        // The same address written as IPv4-mapped IPv6 is the same source.
        assert!(admission.admit(ip("::ffff:10.0.0.66")).is_none());
        let node = admission.admit(ip("10.0.0.5"));
        assert!(node.is_some());
        drop(flood);
        assert!(admission.admit(ip("10.0.0.66")).is_some());
    }

    #[test]
    fn the_total_is_capped_whatever_the_sources() {
        let admission = Admission::default();
        let slots: Vec<Slot> = (0..OPENING_MAX)
            .map(|i| {
                let source = IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]);
                admission.admit(source).unwrap()
            })
            .collect();
        assert!(admission.admit(ip("10.2.0.1")).is_none());
        drop(slots);
        assert!(admission.admit(ip("10.2.0.1")).is_some());
    }
}
