//! A loop of probe attempts for every probed task, each in a tokio task of
//! its own, and the latest verdict of each. The reconciler says which tasks
//! to probe after every look at the engine, and hears of every verdict that
//! changes.

use std::collections::BTreeMap;

use tokio::{
    sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel},
    task::AbortHandle,
    time::{Instant, MissedTickBehavior, interval_at},
};

use super::{
    attempt::attempt,
    target::Target,
    tracker::{Tracker, Verdict},
};

/// Dropping it stops every probe.
pub struct Runners {
    running: BTreeMap<String, Runner>,
    started: u64,
    sender: UnboundedSender<Change>,
    changes: UnboundedReceiver<Change>,
}

struct Runner {
    /// Tells its changes from those a stopped predecessor sent before it
    /// stopped.
    number: u64,
    target: Target,
    verdict: Verdict,
    task: AbortHandle,
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A probe's verdict changed.
#[derive(Debug)]
pub struct Change {
    runner: u64,
    task_id: String,
    verdict: Verdict,
}

impl Runners {
    pub fn new() -> Self {
        let (sender, changes) = unbounded_channel();
        Self {
            running: BTreeMap::new(),
            started: 0,
            sender,
            changes,
        }
    }

    /// Probes exactly `targets`: stops the probes of tasks that left them
    /// and starts those of new ones, starting over where a target changed.
    pub fn align(&mut self, mut targets: BTreeMap<String, Target>) {
        self.running
            .retain(|task_id, runner| targets.get(task_id) == Some(&runner.target));
        targets.retain(|task_id, _| !self.running.contains_key(task_id));
        for (task_id, target) in targets {
            self.started += 1;
            let task = tokio::spawn(run(
                self.started,
                task_id.clone(),
                target.clone(),
                self.sender.clone(),
            ));
            let runner = Runner {
                number: self.started,
                target,
                verdict: Verdict::Starting,
                task: task.abort_handle(),
            };
            self.running.insert(task_id, runner);
        }
    }

    /// Waits for the next change.
    pub async fn next(&mut self) -> Change {
        self.changes
            .recv()
            .await
            .expect("the runners hold a sender themselves")
    }

    /// Takes in a change; whether it is news (one from a probe stopped
    /// since is not).
    pub fn record(&mut self, change: Change) -> bool {
        match self.running.get_mut(&change.task_id) {
            Some(runner) if runner.number == change.runner => {
                runner.verdict = change.verdict;
                true
            }
            _ => false,
        }
    }

    /// The verdict of every probed task.
    pub fn verdicts(&self) -> BTreeMap<String, Verdict> {
        self.running
            .iter()
            .map(|(task_id, runner)| (task_id.clone(), runner.verdict.clone()))
            .collect()
    }
}

async fn run(runner: u64, task_id: String, target: Target, changes: UnboundedSender<Change>) {
    let began = Instant::now();
    let period = target.probe.interval.as_std();
    // As with Docker's health check, the first attempt comes an interval
    // after the start, when the task has had a moment to come up.
    let mut ticks = interval_at(began + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut tracker = Tracker::new(&target.probe);
    loop {
        ticks.tick().await;
        let outcome = attempt(&target).await;
        if let Some(verdict) = tracker.record(began.elapsed(), outcome) {
            let change = Change {
                runner,
                task_id: task_id.clone(),
                verdict,
            };
            if changes.send(change).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{net::SocketAddr, time::Duration};

    use shoal_proto::service::{self, Probe, ProbeKind};
    use tokio::{net::TcpListener, time::timeout};

    use super::*;
    use crate::tasks::plan::tests::probe;

    fn target(addr: SocketAddr) -> Target {
        Target {
            container_id: "c1".into(),
            addr,
            probe: Probe {
                interval: service::Duration::from_millis(100),
                timeout: service::Duration::from_millis(100),
                retries: 1,
                ..probe(ProbeKind::Tcp, 8080)
            },
        }
    }

    async fn next(runners: &mut Runners) -> Change {
        timeout(Duration::from_secs(5), runners.next())
            .await
            .expect("a change within 5 s")
    }

    #[tokio::test]
    async fn probes_follow_their_targets_and_only_current_ones_count() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let _accepting = tokio::spawn(async move {
            let mut connections = Vec::new();
            loop {
                connections.push(listener.accept().await.unwrap());
            }
        });
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();

        let mut runners = Runners::new();
        runners.align(BTreeMap::from([("t1".to_owned(), target(open))]));
        assert_eq!(runners.verdicts()["t1"], Verdict::Starting);
        let passing = next(&mut runners).await;
        assert_eq!(passing.verdict, Verdict::Passing);
        assert!(runners.record(passing));
        assert_eq!(runners.verdicts()["t1"], Verdict::Passing);

        // A new target starts over; a change the old probe sent meanwhile
        // is no news.
        let stale = Change {
            runner: 1,
            task_id: "t1".into(),
            verdict: Verdict::Passing,
        };
        runners.align(BTreeMap::from([("t1".to_owned(), target(closed))]));
        assert_eq!(runners.verdicts()["t1"], Verdict::Starting);
        assert!(!runners.record(stale));
        let failing = loop {
            let change = next(&mut runners).await;
            if runners.record(change) {
                break runners.verdicts()["t1"].clone();
            }
        };
        assert_eq!(failing, Verdict::Failing("connection refused".into()));

        runners.align(BTreeMap::new());
        assert!(runners.verdicts().is_empty());
    }
}
