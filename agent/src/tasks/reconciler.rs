//! The reconciler: keeps this node's containers matching the tasks the
//! server assigns, for as long as the agent runs. It outlives connections to
//! the server: while disconnected it keeps the last assignments and their
//! containers, and the whole set the server sends after a reconnect brings
//! it up to date.
//!
//! It looks at the engine whenever something may have changed (assignments,
//! an engine event, an operation finishing, a probe's verdict) and every
//! 30 s in case an event was missed. Each look is planned by [`plan`]; the
//! plan's operations run concurrently, one at a time per task, so that a
//! long image pull holds up no other task. Each look also says which tasks
//! to probe: those whose containers run.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use futures_util::StreamExt;
use shoal_proto::wire::{Assignment, TaskReport};
use tokio::{
    sync::{
        Notify,
        mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel},
    },
    task::{self, JoinError, JoinSet},
    time::{MissedTickBehavior, interval, sleep},
};
use tracing::{error, info, warn};

use super::{
    operation::perform,
    plan::{Operation, plan},
    probe::{self, Runners},
    runtime::Runtime,
};
use crate::backoff::RECONNECT;

/// The safety net behind the engine's events.
const RESYNC: Duration = Duration::from_secs(30);

/// The handle the session feeds assignments through. Dropping it stops the
/// reconciler and any engine work under way; containers stay as they are,
/// for the next reconciler to adopt.
pub struct Reconciler {
    inbox: UnboundedSender<Input>,
}

enum Input {
    Replace(Vec<Assignment>),
    Update {
        upsert: Vec<Assignment>,
        remove: Vec<String>,
    },
}

impl Reconciler {
    /// Starts reconciling through `runtime`. The receiver yields every task
    /// report for the server, in the order the states were reached; it
    /// queues them while nobody reads.
    pub fn spawn<R: Runtime>(runtime: R) -> (Self, UnboundedReceiver<TaskReport>) {
        let (inbox, inputs) = unbounded_channel();
        let (reports, receiver) = unbounded_channel();
        let (progress_sender, progress) = unbounded_channel();
        let driver = Driver {
            runtime: Arc::new(runtime),
            assignments: BTreeMap::new(),
            complete: false,
            reported: BTreeMap::new(),
            operations: JoinSet::new(),
            busy: HashMap::new(),
            probes: Runners::new(),
            progress_sender,
            progress,
            reports,
        };
        tokio::spawn(driver.run(inputs));
        (Self { inbox }, receiver)
    }

    /// The node's whole set of tasks, as the server sends after every
    /// (re)connect: containers of tasks outside it go, and every task in it
    /// is reported again, so the server learns what happened meanwhile.
    pub fn replace(&self, tasks: Vec<Assignment>) {
        self.send(Input::Replace(tasks));
    }

    /// Changes to the set: new or changed tasks, and tasks whose containers go.
    pub fn update(&self, upsert: Vec<Assignment>, remove: Vec<String>) {
        self.send(Input::Update { upsert, remove });
    }

    fn send(&self, input: Input) {
        // The driver ends only when this handle is dropped, or by a panic
        // already logged.
        let _ = self.inbox.send(input);
    }
}

struct Driver<R> {
    runtime: Arc<R>,
    assignments: BTreeMap<String, Assignment>,
    /// Whether a whole set has arrived: until then the agent cannot tell the
    /// containers of its tasks from strays, and leaves them all alone.
    complete: bool,
    /// The last report of each assigned task.
    reported: BTreeMap<String, TaskReport>,
    operations: JoinSet<()>,
    /// The task of each operation under way.
    busy: HashMap<task::Id, String>,
    probes: Runners,
    progress_sender: UnboundedSender<TaskReport>,
    /// Reports from operations, passed on and remembered.
    progress: UnboundedReceiver<TaskReport>,
    reports: UnboundedSender<TaskReport>,
}

enum Wake {
    Input(Input),
    Progress(TaskReport),
    Finished(Result<(task::Id, ()), JoinError>),
    Probe(probe::Change),
    Look,
}

impl<R: Runtime> Driver<R> {
    async fn run(mut self, mut inputs: UnboundedReceiver<Input>) {
        let changed = Arc::new(Notify::new());
        // Dropped with the driver, which stops the watch.
        let mut watcher = JoinSet::new();
        watcher.spawn(watch(Arc::clone(&self.runtime), Arc::clone(&changed)));
        let mut resync = interval(RESYNC);
        resync.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let wake = tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => Wake::Input(input),
                    None => return,
                },
                Some(report) = self.progress.recv() => Wake::Progress(report),
                Some(finished) = self.operations.join_next_with_id() => Wake::Finished(finished),
                change = self.probes.next() => Wake::Probe(change),
                () = changed.notified() => Wake::Look,
                _ = resync.tick() => Wake::Look,
            };
            match wake {
                Wake::Input(Input::Replace(tasks)) => {
                    self.assignments = tasks
                        .into_iter()
                        .map(|task| (task.task_id.clone(), task))
                        .collect();
                    self.complete = true;
                    self.forget_unassigned();
                    let fresh = self.look().await;
                    self.report_again(&fresh);
                }
                Wake::Input(Input::Update { upsert, remove }) => {
                    for task in upsert {
                        self.assignments.insert(task.task_id.clone(), task);
                    }
                    for task_id in remove {
                        self.assignments.remove(&task_id);
                    }
                    self.forget_unassigned();
                    self.look().await;
                }
                Wake::Progress(report) => self.record(report),
                Wake::Finished(finished) => {
                    self.finished(finished);
                    self.look().await;
                }
                Wake::Probe(change) => {
                    if self.probes.record(change) {
                        self.look().await;
                    }
                }
                Wake::Look => {
                    self.look().await;
                }
            }
        }
    }

    /// Plans from a fresh look at the engine and starts the plan; returns the
    /// tasks it reported.
    async fn look(&mut self) -> BTreeSet<String> {
        let mut fresh = BTreeSet::new();
        if !self.complete {
            return fresh;
        }
        let containers = match self.runtime.containers().await {
            Ok(containers) => containers,
            Err(error) => {
                warn!("cannot list this node's containers, will look again: {error}");
                return fresh;
            }
        };
        self.probes.align(probe::targets(&self.assignments, &containers));
        let busy: BTreeSet<String> = self.busy.values().cloned().collect();
        let plan = plan(
            &self.assignments,
            &containers,
            &self.probes.verdicts(),
            &self.reported,
            &busy,
        );
        for report in plan.reports {
            fresh.insert(report.task_id.clone());
            self.record(report);
        }
        for operation in plan.operations {
            self.launch(operation);
        }
        fresh
    }

    fn launch(&mut self, operation: Operation) {
        let task_id = operation.task_id().to_owned();
        let runtime = Arc::clone(&self.runtime);
        let progress = self.progress_sender.clone();
        let handle = self
            .operations
            .spawn(async move { perform(&*runtime, operation, &progress).await });
        self.busy.insert(handle.id(), task_id);
    }

    fn finished(&mut self, finished: Result<(task::Id, ()), JoinError>) {
        let id = match finished {
            Ok((id, ())) => id,
            Err(failure) => {
                error!("a task operation failed unexpectedly: {failure}");
                failure.id()
            }
        };
        // The operation's last reports must count before its task is
        // planned again, or the plan would act on a stale state.
        while let Ok(report) = self.progress.try_recv() {
            self.record(report);
        }
        self.busy.remove(&id);
    }

    fn record(&mut self, report: TaskReport) {
        // A report of a task the server has taken back interests nobody.
        if !self.assignments.contains_key(&report.task_id) {
            return;
        }
        info!(task = %report.task_id, state = ?report.state, "{}", report.message);
        self.reported.insert(report.task_id.clone(), report.clone());
        // Nobody reads only when the agent is shutting down.
        let _ = self.reports.send(report);
    }

    fn report_again(&self, fresh: &BTreeSet<String>) {
        for (task_id, report) in &self.reported {
            if !fresh.contains(task_id) {
                let _ = self.reports.send(report.clone());
            }
        }
    }

    fn forget_unassigned(&mut self) {
        self.reported
            .retain(|task_id, _| self.assignments.contains_key(task_id));
    }
}

/// Wakes the driver for every engine event about this node's containers,
/// and once more whenever the watch starts over, for what happened while
/// it was down.
async fn watch<R: Runtime>(runtime: Arc<R>, changed: Arc<Notify>) {
    let mut attempt = 0;
    loop {
        let mut changes = runtime.changes();
        changed.notify_one();
        let reason = loop {
            match changes.next().await {
                Some(Ok(())) => {
                    attempt = 0;
                    changed.notify_one();
                }
                Some(Err(error)) => break error.to_string(),
                None => break "the engine ended the event stream".to_owned(),
            }
        };
        let delay = RECONNECT.delay(attempt, rand::random());
        attempt = attempt.saturating_add(1);
        warn!(
            "lost the engine's container events ({reason}); watching again in {:.1} s",
            delay.as_secs_f64()
        );
        sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use shoal_proto::service::{
        self, DesiredState, PortConfig, Probe, ProbeKind, Protocol, PublishMode, PullPolicy, TaskState,
    };
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
        time::timeout,
    };

    use super::*;
    use crate::tasks::{
        Health, Status,
        fake::Fake,
        plan::tests::{assignment, probe},
        report,
    };

    const IMAGE: &str = "shoal-demo:v1";

    async fn next(reports: &mut UnboundedReceiver<TaskReport>) -> TaskReport {
        timeout(Duration::from_secs(5), reports.recv())
            .await
            .expect("a report within 5 s")
            .expect("the reconciler runs")
    }

    /// The states of the reports up to and including one in `last`.
    async fn states_until(reports: &mut UnboundedReceiver<TaskReport>, last: TaskState) -> Vec<TaskState> {
        let mut states = Vec::new();
        loop {
            let report = next(reports).await;
            states.push(report.state);
            if report.state == last {
                return states;
            }
        }
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        for _ in 0..100 {
            if check() {
                return;
            }
            sleep(Duration::from_millis(20)).await;
        }
        panic!("{what} did not happen within 2 s");
    }

    fn no_more(reports: &mut UnboundedReceiver<TaskReport>) {
        assert_eq!(reports.try_recv().ok(), None);
    }

    #[tokio::test]
    async fn a_task_goes_through_every_state_to_running() {
        let engine = Fake::with_images(&[IMAGE]);
        let (tasks, mut reports) = Reconciler::spawn(engine.clone());
        tasks.replace(vec![assignment("t1")]);
        let states = states_until(&mut reports, TaskState::Running).await;
        use TaskState::*;
        assert_eq!(states, [Accepted, Preparing, Starting, Running]);
        assert_eq!(engine.created(), ["t1"]);
        engine.set_health("t1", Health::Passing);
        let healthy = next(&mut reports).await;
        assert_eq!((healthy.state, healthy.healthy), (Running, Some(true)));
        assert_eq!(
            healthy.container_id,
            Some(engine.containers_for("t1")[0].id.clone())
        );
    }

    /// A task's /health on this host: 200 while `healthy` holds, else 503.
    /// Returns its port and the count of requests it answered.
    async fn health_endpoint(healthy: Arc<AtomicBool>) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answered = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&answered);
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0; 1024];
                let _ = stream.read(&mut request).await;
                let status = match healthy.load(Ordering::SeqCst) {
                    true => "200 OK",
                    false => "503 Service Unavailable",
                };
                let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        (port, answered)
    }

    #[tokio::test]
    async fn a_probed_task_is_reported_as_its_probe_finds_it_until_it_leaves() {
        let healthy = Arc::new(AtomicBool::new(true));
        let (port, answered) = health_endpoint(Arc::clone(&healthy)).await;
        let mut probed = assignment("t1");
        // The fake engine binds the published port, where the endpoint is.
        probed.container.ports = vec![PortConfig {
            target: 8080,
            published: Some(port),
            protocol: Protocol::Tcp,
            mode: PublishMode::Host,
        }];
        probed.container.probe = Some(Probe {
            path: Some("/health".into()),
            interval: service::Duration::from_millis(200),
            timeout: service::Duration::from_millis(200),
            retries: 2,
            ..probe(ProbeKind::Http, 8080)
        });
        let engine = Fake::with_images(&[IMAGE]);
        let (tasks, mut reports) = Reconciler::spawn(engine.clone());
        tasks.replace(vec![probed]);

        let running = loop {
            let report = next(&mut reports).await;
            if report.state == TaskState::Running {
                break report;
            }
        };
        let health = |report: TaskReport| (report.healthy, report.health_starting, report.message);
        let starting = "probe http :8080/health starting".to_owned();
        assert_eq!(health(running), (None, true, starting));
        let passing = "probe http :8080/health passing".to_owned();
        assert_eq!(
            health(next(&mut reports).await),
            (Some(true), false, passing.clone())
        );

        healthy.store(false, Ordering::SeqCst);
        let failing = "probe http :8080/health failing: HTTP 503 Service Unavailable".to_owned();
        assert_eq!(health(next(&mut reports).await), (Some(false), false, failing));
        healthy.store(true, Ordering::SeqCst);
        assert_eq!(health(next(&mut reports).await), (Some(true), false, passing));

        tasks.update(Vec::new(), vec!["t1".into()]);
        eventually("the container's removal", || {
            engine.containers_for("t1").is_empty()
        })
        .await;
        let after_removal = answered.load(Ordering::SeqCst);
        sleep(Duration::from_millis(200)).await;
        assert!(
            answered.load(Ordering::SeqCst) <= after_removal + 1,
            "the probe went on after its task left"
        );
        no_more(&mut reports);
    }

    #[tokio::test]
    async fn images_are_pulled_as_the_policy_says() {
        let engine = Fake::default();
        engine.in_registry(IMAGE);
        let (tasks, mut reports) = Reconciler::spawn(engine.clone());
        let mut never = assignment("never");
        never.container.pull_policy = PullPolicy::Never;
        tasks.replace(vec![never]);
        let rejected = states_until(&mut reports, TaskState::Rejected).await;
        assert_eq!(rejected, [TaskState::Accepted, TaskState::Rejected]);

        let mut missing = assignment("missing");
        missing.container.image = "unknown:v1".into();
        tasks.update(vec![missing], vec!["never".into()]);
        next(&mut reports).await;
        let pulling = next(&mut reports).await;
        assert_eq!(pulling.message, "pulling unknown:v1");
        let failed = next(&mut reports).await;
        assert_eq!(failed.state, TaskState::Rejected);
        assert_eq!(failed.error.as_deref(), Some("pull access denied for unknown:v1"));

        tasks.update(vec![assignment("pulled")], vec!["missing".into()]);
        let states = states_until(&mut reports, TaskState::Running).await;
        assert!(states.contains(&TaskState::Preparing), "{states:?}");
        assert_eq!(engine.created(), ["pulled"]);
    }

    #[tokio::test]
    async fn an_ended_container_fails_its_task_and_is_not_restarted() {
        let engine = Fake::with_images(&[IMAGE]);
        let (tasks, mut reports) = Reconciler::spawn(engine.clone());
        tasks.replace(vec![assignment("t1"), assignment("t2")]);
        for _ in 0..2 {
            states_until(&mut reports, TaskState::Running).await;
        }
        engine.exit("t1", 3);
        let failed = next(&mut reports).await;
        assert_eq!((failed.task_id.as_str(), failed.state), ("t1", TaskState::Failed));
        assert_eq!(
            (failed.message.as_str(), failed.exit_code),
            ("exited with code 3", Some(3))
        );
        engine.remove_by_hand("t2");
        let removed = next(&mut reports).await;
        assert_eq!(
            (removed.task_id.as_str(), removed.state),
            ("t2", TaskState::Failed)
        );
        assert_eq!(removed.message, report::REMOVED_OUTSIDE);
        // Whatever wakes the reconciler now, neither task runs again.
        tasks.update(Vec::new(), Vec::new());
        sleep(Duration::from_millis(100)).await;
        assert_eq!(engine.created(), ["t1", "t2"]);
        no_more(&mut reports);
    }

    #[tokio::test]
    async fn a_restarted_agent_adopts_its_tasks_and_removes_the_rest() {
        let engine = Fake::with_images(&[IMAGE]);
        engine.existing("old-1", "t1", Status::Running);
        engine.existing("old-9", "t9", Status::Running);
        let (tasks, mut reports) = Reconciler::spawn(engine.clone());
        // Nothing is touched before the server says what is the node's.
        sleep(Duration::from_millis(50)).await;
        assert_eq!(engine.containers_for("t9").len(), 1);
        tasks.replace(vec![assignment("t1")]);
        let adopted = next(&mut reports).await;
        assert_eq!(adopted.state, TaskState::Running);
        assert_eq!(adopted.container_id.as_deref(), Some("old-1"));
        eventually("the stray's removal", || engine.containers_for("t9").is_empty()).await;
        assert_eq!(engine.created(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn the_whole_set_after_a_reconnect_reports_every_task_again() {
        let engine = Fake::with_images(&[IMAGE]);
        let (tasks, mut reports) = Reconciler::spawn(engine.clone());
        tasks.replace(vec![assignment("t1")]);
        let running = states_until(&mut reports, TaskState::Running).await;
        assert_eq!(running.last(), Some(&TaskState::Running));
        tasks.replace(vec![assignment("t1")]);
        let again = next(&mut reports).await;
        assert_eq!((again.task_id.as_str(), again.state), ("t1", TaskState::Running));
        sleep(Duration::from_millis(50)).await;
        no_more(&mut reports);
        assert_eq!(engine.created(), ["t1"]);
    }

    #[tokio::test]
    async fn a_task_is_stopped_when_it_should_shut_down_and_removed_when_it_leaves() {
        let engine = Fake::with_images(&[IMAGE]);
        let (tasks, mut reports) = Reconciler::spawn(engine.clone());
        tasks.replace(vec![assignment("t1")]);
        states_until(&mut reports, TaskState::Running).await;
        let mut stopping = assignment("t1");
        stopping.desired = DesiredState::Shutdown;
        tasks.update(vec![stopping], Vec::new());
        let stopped = next(&mut reports).await;
        assert_eq!(
            (stopped.state, stopped.message.as_str()),
            (TaskState::Shutdown, report::STOPPED)
        );
        assert_eq!(engine.containers_for("t1").len(), 1);
        tasks.update(Vec::new(), vec!["t1".into()]);
        eventually("the container's removal", || {
            engine.containers_for("t1").is_empty()
        })
        .await;
        no_more(&mut reports);
    }
}
