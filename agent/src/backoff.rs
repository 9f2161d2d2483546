//! How long to wait before reconnecting: doubling from a short first wait up
//! to a cap, with jitter so that agents cut off together (a server restart)
//! do not all come back in the same instant.

use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

pub const RECONNECT: Backoff = Backoff {
    first: Duration::from_millis(500),
    max: Duration::from_secs(30),
};

impl Backoff {
    /// The wait before retry `attempt` (0 for the first), given `jitter` in
    /// [0, 1): between half and all of the doubled, capped wait.
    pub fn delay(self, attempt: u32, jitter: f64) -> Duration {
        let doubled = self
            .first
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max);
        doubled.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let full = |attempt| RECONNECT.delay(attempt, 1.0);
        assert_eq!(full(0), Duration::from_millis(500));
        assert_eq!(full(1), Duration::from_secs(1));
        assert_eq!(full(3), Duration::from_secs(4));
        assert_eq!(full(6), Duration::from_secs(30));
        assert_eq!(full(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_spreads_a_wait_over_its_upper_half() {
        assert_eq!(RECONNECT.delay(2, 0.0), Duration::from_secs(1));
        assert_eq!(RECONNECT.delay(2, 0.5), Duration::from_millis(1500));
        assert_eq!(RECONNECT.delay(2, 7.0), Duration::from_secs(2));
    }
}
