//! What webhook deliveries share across requests: the per-webhook rate
//! limit, and a lock so one delivery decides and deploys at a time.

use tokio::sync::{Mutex, MutexGuard};

use super::rate::RateLimit;

#[derive(Debug, Default)]
pub struct Hooks {
    pub rate: RateLimit,
    serial: Mutex<()>,
}

impl Hooks {
    /// Held while a delivery decides and deploys, so a delivery id sent
    /// twice at once still starts one rollout.
    pub async fn one_at_a_time(&self) -> MutexGuard<'_, ()> {
        self.serial.lock().await
    }
}
