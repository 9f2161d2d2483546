//! Login throttling: failures for an account or from an address first slow
//! further attempts down, then lock them out for a while. Pure decisions over
//! an in-memory table; the clock is passed in so tests need no sleeping.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures allowed before any delay applies.
    pub free_failures: u32,
    /// Failures after which the key is locked for `lockout`.
    pub lock_after: u32,
    pub lockout: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
    pub max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            lock_after: 10,
            lockout: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
            max_delay: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Too soon after the last failure; wait this long.
    SlowDown(Duration),
    /// Locked; wait this long.
    Locked(Duration),
}

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last_failure: Instant,
    /// When a refusal of this key was last written to the audit log.
    refusal_reported: Option<Instant>,
}

/// Refused attempts are audited at most this often per key, so a flood of
/// them cannot flood the log.
const REPORT_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Throttle {
    policy: Policy,
    records: Mutex<HashMap<String, Record>>,
}

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            records: Mutex::default(),
        }
    }

    fn records(&self) -> MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().expect("throttle lock")
    }

    /// The strictest verdict over all keys (e.g. the account and the address).
    pub fn check(&self, keys: &[String], now: Instant) -> Verdict {
        self.verdict_of(&self.records(), keys, now)
    }

    fn verdict_of(&self, records: &HashMap<String, Record>, keys: &[String], now: Instant) -> Verdict {
        keys.iter()
            .filter_map(|key| records.get(key))
            .map(|record| self.verdict(record, now))
            .max_by_key(|verdict| match verdict {
                Verdict::Allowed => (0, Duration::ZERO),
                Verdict::SlowDown(wait) => (1, *wait),
                Verdict::Locked(wait) => (2, *wait),
            })
            .unwrap_or(Verdict::Allowed)
    }

    /// Checks and, if allowed, counts the attempt as a failure at once:
    /// attempts that arrive together then see each other, so a burst cannot
    /// pass the throttle together. A success clears the count
    /// ([`Throttle::record_success`]).
    pub fn attempt(&self, keys: &[String], now: Instant) -> Verdict {
        // One lock for both, so no other attempt slips in between.
        let mut records = self.records();
        let verdict = self.verdict_of(&records, keys, now);
        if verdict == Verdict::Allowed {
            self.count_failure(&mut records, keys, now);
        }
        verdict
    }

    /// Whether a refusal now should be audited: once per key per minute.
    pub fn report_refusal(&self, keys: &[String], now: Instant) -> bool {
        let mut records = self.records();
        let recent = keys.iter().filter_map(|key| records.get(key)).any(|record| {
            record
                .refusal_reported
                .is_some_and(|at| now.duration_since(at) < REPORT_EVERY)
        });
        if !recent {
            for key in keys {
                if let Some(record) = records.get_mut(key) {
                    record.refusal_reported = Some(now);
                }
            }
        }
        !recent
    }

    pub fn record_failure(&self, keys: &[String], now: Instant) {
        self.count_failure(&mut self.records(), keys, now);
    }

    fn count_failure(&self, records: &mut HashMap<String, Record>, keys: &[String], now: Instant) {
        for key in keys {
            let record = records.entry(key.clone()).or_insert(Record {
                failures: 0,
                last_failure: now,
                refusal_reported: None,
            });
            if now.duration_since(record.last_failure) > self.policy.window {
                record.failures = 0;
            }
            record.failures += 1;
            record.last_failure = now;
        }
        // Forgotten entries go, so random usernames cannot grow the table forever.
        let window = self.policy.window.max(self.policy.lockout);
        records.retain(|_, record| now.duration_since(record.last_failure) <= window);
    }

    pub fn record_success(&self, keys: &[String]) {
        let mut records = self.records();
        for key in keys {
            records.remove(key);
        }
    }

    fn verdict(&self, record: &Record, now: Instant) -> Verdict {
        let since = now.duration_since(record.last_failure);
        let policy = &self.policy;
        if record.failures >= policy.lock_after {
            return match policy.lockout.checked_sub(since) {
                Some(wait) if !wait.is_zero() => Verdict::Locked(wait),
                _ => Verdict::Allowed,
            };
        }
        if since > policy.window || record.failures < policy.free_failures {
            return Verdict::Allowed;
        }
        // Doubling per failure beyond the free ones: 1 s, 2 s, 4 s, … capped.
        let extra = record.failures - policy.free_failures;
        let delay = Duration::from_secs(1u64 << extra.min(16)).min(policy.max_delay);
        match delay.checked_sub(since) {
            Some(wait) if !wait.is_zero() => Verdict::SlowDown(wait),
            _ => Verdict::Allowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["user:alice".into(), "ip:10.0.0.1".into()]
    }

    #[test]
    fn a_few_failures_cost_nothing() {
        let throttle = Throttle::new(Policy::default());
        let now = Instant::now();
        for _ in 0..4 {
            throttle.record_failure(&keys(), now);
        }
        assert_eq!(throttle.check(&keys(), now), Verdict::Allowed);
    }

    #[test]
    fn further_failures_slow_down_then_lock() {
        let throttle = Throttle::new(Policy::default());
        let start = Instant::now();
        for _ in 0..5 {
            throttle.record_failure(&keys(), start);
        }
        assert_eq!(
            throttle.check(&keys(), start),
            Verdict::SlowDown(Duration::from_secs(1))
        );
        assert_eq!(
            throttle.check(&keys(), start + Duration::from_secs(2)),
            Verdict::Allowed
        );
        for _ in 0..5 {
            throttle.record_failure(&keys(), start);
        }
        match throttle.check(&keys(), start + Duration::from_secs(60)) {
            Verdict::Locked(wait) => assert_eq!(wait, Duration::from_secs(14 * 60)),
            other => panic!("expected a lock, got {other:?}"),
        }
        assert_eq!(
            throttle.check(&keys(), start + Duration::from_secs(15 * 60 + 1)),
            Verdict::Allowed
        );
    }

    #[test]
    fn an_address_failing_on_many_accounts_is_throttled_for_all() {
        let throttle = Throttle::new(Policy::default());
        let now = Instant::now();
        for n in 0..10 {
            throttle.record_failure(&[format!("user:u{n}"), "ip:10.0.0.9".into()], now);
        }
        let verdict = throttle.check(&["user:fresh".into(), "ip:10.0.0.9".into()], now);
        assert!(matches!(verdict, Verdict::Locked(_)), "{verdict:?}");
        assert_eq!(
            throttle.check(&["user:fresh".into(), "ip:10.0.0.8".into()], now),
            Verdict::Allowed
        );
    }

    #[test]
    fn success_clears_the_record() {
        let throttle = Throttle::new(Policy::default());
        let now = Instant::now();
        for _ in 0..7 {
            throttle.record_failure(&keys(), now);
        }
        throttle.record_success(&keys());
        assert_eq!(throttle.check(&keys(), now), Verdict::Allowed);
    }
}
