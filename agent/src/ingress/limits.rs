//! How much the routing mesh may hold open. Without bounds, a flood of
//! clients on one published port takes every file descriptor the agent
//! has: its session with the server then cannot reconnect (nor the Docker
//! engine be asked, nor a health probe run), the server marks the node down
//! and moves its tasks away, a whole node lost to one busy port.
//!
//! So each port has a cap, all ports together have one that leaves
//! descriptors for the agent's own connections, and a connection on which
//! nothing moves is closed after a while instead of being held forever.

use std::time::Duration;

/// Connections proxied at once on one published port, unless the operator
/// says otherwise: enough for a busy service, yet one port cannot take the
/// whole node-wide budget on a host with a generous open-file limit.
pub const PORT_CONNECTIONS: usize = 4096;

/// A proxied connection on which no byte moved, either way, for this long
/// is closed: five minutes outlasts any keep-alive a client or load
/// balancer holds idle on purpose, and a client that vanished without a
/// FIN (a pulled cable, a NAT that forgot the flow) stops holding two
/// descriptors.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Descriptors the node-wide cap leaves to the agent itself: its session
/// with the server, the Docker engine's socket, health probes, the
/// listeners, the metrics endpoint, the runtime's own.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// Client and backend: what one proxied connection costs in descriptors.
const DESCRIPTORS_PER_CONNECTION: u64 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections proxied at once on one published port.
    pub per_port: usize,
    /// Connections proxied at once on all published ports together.
    pub total: usize,
    /// How long a proxied connection may go without a byte either way.
    pub idle_timeout: Duration,
}

/// The caps when the operator sets none.
impl Default for Limits {
    fn default() -> Self {
        Self {
            per_port: PORT_CONNECTIONS,
            total: default_total(),
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

impl Limits {
    /// Descriptors the agent needs with the node-wide cap reached: the
    /// connections' and the reserve.
    pub fn descriptors_needed(&self) -> u64 {
        u64::try_from(self.total)
            .unwrap_or(u64::MAX)
            .saturating_mul(DESCRIPTORS_PER_CONNECTION)
            .saturating_add(RESERVED_DESCRIPTORS)
    }
}

/// The node-wide cap when the operator sets none: as many connections as
/// the process's open-file limit allows after the reserve.
pub fn default_total() -> usize {
    total_for(open_files_limit())
}

/// The node-wide cap that an open-file limit of `open_files` allows: what
/// is left after the reserve, two descriptors a connection. At least one,
/// so that even a host configured too tight still proxies.
fn total_for(open_files: u64) -> usize {
    let left = open_files.saturating_sub(RESERVED_DESCRIPTORS);
    to_usize((left / DESCRIPTORS_PER_CONNECTION).max(1))
}

/// The soft `RLIMIT_NOFILE`: the number of descriptors past which opening
/// one fails. Unlimited reads as `u64::MAX`.
pub fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` through a pointer to a live,
    // properly aligned value and keeps no reference to it.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        // Cannot fail for a valid resource; should it, assume the limit
        // most hosts start processes with rather than none.
        return 1024;
    }
    limit.rlim_cur
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_wide_cap_leaves_the_reserve_and_counts_two_descriptors_a_connection() {
        assert_eq!(total_for(1024), 384);
        assert_eq!(total_for(1_048_576), 524_160);
        assert_eq!(total_for(u64::MAX), to_usize((u64::MAX - 256) / 2));
    }

    #[test]
    fn the_default_cap_fits_in_the_limit_it_comes_from() {
        let limits = Limits {
            per_port: PORT_CONNECTIONS,
            total: total_for(1024),
            idle_timeout: IDLE_TIMEOUT,
        };
        assert_eq!(limits.descriptors_needed(), 1024);
    }

    #[test]
    fn a_limit_inside_the_reserve_still_proxies_one_connection() {
        assert_eq!(total_for(0), 1);
        assert_eq!(total_for(RESERVED_DESCRIPTORS + 1), 1);
    }
}
