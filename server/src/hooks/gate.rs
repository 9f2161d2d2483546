//! What webhook deliveries share across requests: the per-webhook rate
//! limit (taken only by requests that know the webhook's secret), a limit on
//! wrong secrets per source address, and a lock so one delivery decides and
//! deploys at a time.

use tokio::sync::{Mutex, MutexGuard};

use super::rate::{Policy, RateLimit};

#[derive(Debug)]
pub struct Hooks {
    pub rate: RateLimit,
    /// Requests without the right secret, per source address: a guesser is
    /// slowed down without touching the webhook's own budget.
    pub unauthenticated: RateLimit,
    serial: Mutex<()>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            rate: RateLimit::default(),
            unauthenticated: RateLimit::new(Policy {
                burst: 20.0,
                per_second: 0.5,
            }),
            serial: Mutex::default(),
        }
    }
}

impl Hooks {
    /// Held while a delivery decides and deploys, so a delivery id sent
    /// twice at once still starts one rollout.
    pub async fn one_at_a_time(&self) -> MutexGuard<'_, ()> {
        self.serial.lock().await
    }
}
