//! Per-webhook rate limiting: a token bucket per webhook, in memory. Pure
//! over a clock passed in, so tests need no sleeping.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Deliveries allowed at once. A registry sends one notification per
    /// blob and manifest pushed and pulled, so a deploy makes dozens.
    pub burst: f64,
    pub per_second: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            burst: 120.0,
            per_second: 2.0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct RateLimit {
    policy: Policy,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimit {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            buckets: Mutex::default(),
        }
    }

    /// Takes one delivery's token, or says how long until one is free.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().expect("rate limit lock");
        let policy = self.policy;
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: policy.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * policy.per_second).min(policy.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / policy.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_deliveries_wait_for_the_refill_per_webhook() {
        let limit = RateLimit::new(Policy {
            burst: 3.0,
            per_second: 0.5,
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limit.take("a", start), Ok(()));
        }
        let wait = limit.take("a", start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2));
        // Another webhook has its own bucket.
        assert_eq!(limit.take("b", start), Ok(()));
        assert_eq!(limit.take("a", start + Duration::from_secs(2)), Ok(()));
        assert!(limit.take("a", start + Duration::from_secs(2)).is_err());
    }
}
