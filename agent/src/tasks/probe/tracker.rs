//! How a probe's attempts add up to a verdict: `retries` failures in a row
//! make the task unhealthy, one success makes it healthy again, and failures
//! before the first success within the start period do not count (Docker's
//! rules for its health check, so that both read the same).

use std::time::Duration;

use shoal_proto::service::Probe;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Neither passed nor failed yet.
    Starting,
    Passing,
    /// Why the attempt that tipped it failed.
    Failing(String),
}

#[derive(Debug)]
pub struct Tracker {
    retries: u32,
    start_period: Duration,
    failures: u32,
    verdict: Verdict,
}

impl Tracker {
    pub fn new(probe: &Probe) -> Self {
        Self {
            retries: probe.retries,
            start_period: probe.start_period.as_std(),
            failures: 0,
            verdict: Verdict::Starting,
        }
    }

    /// Takes in one attempt, made `since_start` after the probe began, and
    /// returns the verdict if it changed.
    pub fn record(&mut self, since_start: Duration, outcome: Result<(), String>) -> Option<Verdict> {
        let next = match outcome {
            Ok(()) => {
                self.failures = 0;
                Verdict::Passing
            }
            Err(_) if self.verdict == Verdict::Starting && since_start < self.start_period => return None,
            Err(why) => {
                self.failures = self.failures.saturating_add(1);
                // Still failing for another reason is no news: reporting each
                // reason would flood the server while a task flaps between
                // refusing connections and timing out.
                if self.failures < self.retries || matches!(self.verdict, Verdict::Failing(_)) {
                    return None;
                }
                Verdict::Failing(why)
            }
        };
        if next == self.verdict {
            return None;
        }
        self.verdict = next.clone();
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use shoal_proto::service::{self, ProbeKind};

    use super::*;
    use crate::tasks::plan::tests::probe;

    fn tracker(retries: u32, start_period: u64) -> Tracker {
        Tracker::new(&Probe {
            retries,
            start_period: service::Duration::from_secs(start_period),
            ..probe(ProbeKind::Http, 8080)
        })
    }

    fn fail(why: &str) -> Result<(), String> {
        Err(why.into())
    }

    const LATER: Duration = Duration::from_secs(100);

    #[test]
    fn retries_failures_in_a_row_make_it_fail_and_one_success_heals() {
        let mut tracker = tracker(3, 0);
        assert_eq!(tracker.record(LATER, Ok(())), Some(Verdict::Passing));
        assert_eq!(tracker.record(LATER, Ok(())), None);
        assert_eq!(tracker.record(LATER, fail("HTTP 500")), None);
        assert_eq!(tracker.record(LATER, fail("HTTP 500")), None);
        assert_eq!(
            tracker.record(LATER, fail("connection refused")),
            Some(Verdict::Failing("connection refused".into()))
        );
        assert_eq!(tracker.record(LATER, fail("no answer within 1s")), None);
        assert_eq!(tracker.record(LATER, Ok(())), Some(Verdict::Passing));
        // The count starts over after a success.
        assert_eq!(tracker.record(LATER, fail("HTTP 500")), None);
        assert_eq!(tracker.record(LATER, fail("HTTP 500")), None);
        assert_eq!(tracker.record(LATER, Ok(())), None);
        assert_eq!(tracker.record(LATER, fail("HTTP 500")), None);
    }

    #[test]
    fn a_task_that_never_passed_fails_after_as_many_failures() {
        let mut tracker = tracker(2, 0);
        assert_eq!(tracker.record(LATER, fail("connection refused")), None);
        assert_eq!(
            tracker.record(LATER, fail("connection refused")),
            Some(Verdict::Failing("connection refused".into()))
        );
        let mut once = self::tracker(1, 0);
        assert_eq!(
            once.record(Duration::ZERO, fail("HTTP 404")),
            Some(Verdict::Failing("HTTP 404".into()))
        );
    }

    #[test]
    fn failures_in_the_start_period_count_only_after_a_success() {
        let mut starting = tracker(1, 10);
        for second in 0..10 {
            assert_eq!(
                starting.record(Duration::from_secs(second), fail("connection refused")),
                None
            );
        }
        assert_eq!(
            starting.record(Duration::from_secs(10), fail("connection refused")),
            Some(Verdict::Failing("connection refused".into()))
        );

        let mut started = tracker(1, 10);
        assert_eq!(
            started.record(Duration::from_secs(1), Ok(())),
            Some(Verdict::Passing)
        );
        assert_eq!(
            started.record(Duration::from_secs(2), fail("HTTP 503")),
            Some(Verdict::Failing("HTTP 503".into()))
        );
    }
}
