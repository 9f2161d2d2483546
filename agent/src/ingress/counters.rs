//! One published port's counters. Atomics, because every proxied
//! connection adds to them from its own task and the status and metrics
//! readers must never wait for one.

use std::sync::atomic::{AtomicU64, Ordering};

use shoal_proto::wire::PortMetrics;

#[derive(Debug, Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub active: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub errors: AtomicU64,
    pub retries: AtomicU64,
    /// Connections closed on arrival: the port or the node was at its cap.
    pub refused: AtomicU64,
    /// Proxied connections closed because no byte moved for the idle timeout.
    pub idle_timeouts: AtomicU64,
}

/// The counters the wire's [`PortMetrics`] has no field for: the agent
/// shows them to Prometheus and in its log only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitMetrics {
    pub refused: u64,
    pub idle_timeouts: u64,
}

impl Counters {
    pub fn snapshot(&self) -> PortMetrics {
        // Relaxed: each value is a count on its own; no reader needs them
        // consistent with one another.
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PortMetrics {
            connections: load(&self.connections),
            active: load(&self.active),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            errors: load(&self.errors),
            retries: load(&self.retries),
        }
    }

    pub fn limit_snapshot(&self) -> LimitMetrics {
        LimitMetrics {
            refused: self.refused.load(Ordering::Relaxed),
            idle_timeouts: self.idle_timeouts.load(Ordering::Relaxed),
        }
    }
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Counts one in a gauge for as long as it lives, so that every way out of
/// a connection (an error, a panic, a cancelled task) counts it out again.
pub struct Held<'a>(&'a AtomicU64);

impl<'a> Held<'a> {
    pub fn new(gauge: &'a AtomicU64) -> Self {
        add(gauge, 1);
        Self(gauge)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
