//! The reconciler's decisions, as one pure function: from the tasks assigned
//! to this node, the containers it has and what was last reported of each
//! task, what to do next. Nothing here waits or touches the engine.
//!
//! The rules, level-triggered so that any look at the engine gives the same
//! answer for the same facts:
//! - a container whose task is not assigned goes (after an agent restart,
//!   that is how the containers of tasks removed meanwhile are cleaned up);
//! - a task gets a container only if it has none and never had one: the
//!   agent never restarts a task, the server replaces it with a new one;
//! - a running container whose task should shut down is stopped;
//! - otherwise the task's state is read off its container (and its probe's
//!   verdict) and reported when it differs from the last report; an ended
//!   task is never reported again.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use shoal_proto::{
    service::DesiredState,
    wire::{Assignment, TaskReport},
};

use super::{
    probe::Verdict,
    report::{ended, observed},
    runtime::{Observed, Status},
};

/// The engine work a plan asks for. Each names one task, and the driver
/// runs at most one at a time per task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Pull the image as the policy says, then create and start a container.
    Run(Box<Assignment>),
    /// Start a container created earlier but never started: the agent was
    /// stopped between the two steps.
    Start { task_id: String, container_id: String },
    Stop {
        task_id: String,
        container_id: String,
        grace: Duration,
    },
    Remove {
        task_id: String,
        containers: Vec<Observed>,
    },
}

impl Operation {
    pub fn task_id(&self) -> &str {
        match self {
            Self::Run(assignment) => &assignment.task_id,
            Self::Start { task_id, .. } | Self::Stop { task_id, .. } | Self::Remove { task_id, .. } => {
                task_id
            }
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub operations: Vec<Operation>,
    pub reports: Vec<TaskReport>,
}

/// Decides for every task and container not `busy` (with an operation
/// under way, whose outcome the next look will show). `probes` holds the
/// verdicts of the probes running.
pub fn plan(
    assignments: &BTreeMap<String, Assignment>,
    containers: &[Observed],
    probes: &BTreeMap<String, Verdict>,
    reported: &BTreeMap<String, TaskReport>,
    busy: &BTreeSet<String>,
) -> Plan {
    let mut by_task: BTreeMap<&str, Vec<&Observed>> = BTreeMap::new();
    for container in containers {
        by_task.entry(&container.task_id).or_default().push(container);
    }
    let mut plan = Plan::default();
    for (&task_id, found) in &mut by_task {
        if busy.contains(task_id) {
            continue;
        }
        let Some(assignment) = assignments.get(task_id) else {
            plan.operations.push(remove(task_id, found));
            continue;
        };
        // Only ever one container per task; should there be more (made by an
        // older agent, or by hand), the liveliest stays.
        found.sort_by_key(|container| liveliness(container.status));
        if found.len() > 1 {
            plan.operations.push(remove(task_id, &found[1..]));
            continue;
        }
        let (probe, last) = (probes.get(task_id), reported.get(task_id));
        decide(assignment, Some(found[0]), probe, last, &mut plan);
    }
    for (task_id, assignment) in assignments {
        if !busy.contains(task_id) && !by_task.contains_key(task_id.as_str()) {
            let (probe, last) = (probes.get(task_id), reported.get(task_id));
            decide(assignment, None, probe, last, &mut plan);
        }
    }
    plan
}

fn decide(
    assignment: &Assignment,
    container: Option<&Observed>,
    probe: Option<&Verdict>,
    last: Option<&TaskReport>,
    plan: &mut Plan,
) {
    let task_id = assignment.task_id.clone();
    let running = assignment.desired == DesiredState::Running;
    let operation = match container {
        Some(container) if !running && container.status == Status::Running => Some(Operation::Stop {
            task_id,
            container_id: container.id.clone(),
            grace: assignment.container.stop_grace_period.as_std(),
        }),
        _ if last.is_some_and(|report| ended(report.state)) => return,
        Some(container) if running && container.status == Status::Created && container.error.is_none() => {
            Some(Operation::Start {
                task_id,
                container_id: container.id.clone(),
            })
        }
        None if running && last.is_none_or(|report| report.container_id.is_none()) => {
            Some(Operation::Run(Box::new(assignment.clone())))
        }
        _ => None,
    };
    match operation {
        Some(operation) => plan.operations.push(operation),
        None => {
            if let Some(report) = observed(assignment, container, probe, last)
                && Some(&report) != last
            {
                plan.reports.push(report);
            }
        }
    }
}

fn remove(task_id: &str, containers: &[&Observed]) -> Operation {
    Operation::Remove {
        task_id: task_id.to_owned(),
        containers: containers.iter().map(|&container| container.clone()).collect(),
    }
}

/// Lower is livelier.
fn liveliness(status: Status) -> u8 {
    match status {
        Status::Running => 0,
        Status::Created => 1,
        Status::Exited { .. } => 2,
        Status::Removing => 3,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use shoal_proto::{
        service::{PortConfig, Probe, ProbeKind, Protocol, PublishMode, PullPolicy, TaskState},
        wire::{ContainerSpec, PortBinding},
    };

    use super::*;
    use crate::tasks::{
        report::{REMOVED_OUTSIDE, progress},
        runtime::Health,
    };

    /// A probe of `port` with the spec's defaults.
    pub fn probe(kind: ProbeKind, port: u16) -> Probe {
        Probe {
            kind,
            port,
            path: None,
            interval: shoal_proto::service::Duration::from_secs(2),
            timeout: shoal_proto::service::Duration::from_secs(1),
            retries: 3,
            start_period: shoal_proto::service::Duration::ZERO,
        }
    }

    pub fn assignment(task_id: &str) -> Assignment {
        Assignment {
            task_id: task_id.into(),
            service_id: "s1".into(),
            service_name: "web".into(),
            slot: Some(1),
            revision: 1,
            desired: DesiredState::Running,
            container: ContainerSpec {
                image: "shoal-demo:v1".into(),
                entrypoint: None,
                command: None,
                environment: BTreeMap::new(),
                ports: Vec::new(),
                networks: Vec::new(),
                healthcheck: None,
                probe: None,
                nano_cpus: None,
                memory_bytes: None,
                stop_grace_period: shoal_proto::service::Duration::from_secs(3),
                pull_policy: PullPolicy::Missing,
                registry_auth: None,
            },
        }
    }

    fn container(id: &str, task_id: &str, status: Status) -> Observed {
        Observed {
            id: id.into(),
            task_id: task_id.into(),
            status,
            health: None,
            error: None,
            ports: Vec::new(),
            stop_grace: Duration::from_secs(10),
        }
    }

    fn assigned(tasks: &[Assignment]) -> BTreeMap<String, Assignment> {
        tasks
            .iter()
            .map(|task| (task.task_id.clone(), task.clone()))
            .collect()
    }

    fn reported(reports: &[TaskReport]) -> BTreeMap<String, TaskReport> {
        reports
            .iter()
            .map(|report| (report.task_id.clone(), report.clone()))
            .collect()
    }

    fn exited(code: i64) -> Status {
        Status::Exited {
            code,
            out_of_memory: false,
        }
    }

    #[test]
    fn a_new_task_is_run() {
        let plan = plan(
            &assigned(&[assignment("t1")]),
            &[],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        assert_eq!(plan.operations, vec![Operation::Run(Box::new(assignment("t1")))]);
        assert_eq!(plan.reports, vec![]);
    }

    #[test]
    fn a_running_container_is_adopted_and_reported_once() {
        let tasks = assigned(&[assignment("t1")]);
        let containers = [container("c1", "t1", Status::Running)];
        let first = plan(
            &tasks,
            &containers,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        assert_eq!(first.operations, vec![]);
        let [report] = first.reports.as_slice() else {
            panic!("{first:?}")
        };
        assert_eq!(
            (report.state, report.container_id.as_deref()),
            (TaskState::Running, Some("c1"))
        );
        let again = plan(
            &tasks,
            &containers,
            &BTreeMap::new(),
            &reported(&first.reports),
            &BTreeSet::new(),
        );
        assert_eq!(again, Plan::default());
    }

    #[test]
    fn a_health_change_is_news() {
        let tasks = assigned(&[assignment("t1")]);
        let before = plan(
            &tasks,
            &[container("c1", "t1", Status::Running)],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        let healthy = Observed {
            health: Some(Health::Passing),
            ..container("c1", "t1", Status::Running)
        };
        let after = plan(
            &tasks,
            &[healthy],
            &BTreeMap::new(),
            &reported(&before.reports),
            &BTreeSet::new(),
        );
        assert_eq!(after.reports.len(), 1);
        assert_eq!(after.reports[0].healthy, Some(true));
    }

    #[test]
    fn a_probes_verdict_is_news() {
        let mut probed = assignment("t1");
        probed.container.probe = Some(probe(ProbeKind::Tcp, 8080));
        probed.container.ports = vec![PortConfig {
            target: 8080,
            published: None,
            protocol: Protocol::Tcp,
            mode: PublishMode::Ingress,
        }];
        let tasks = assigned(&[probed]);
        let running = Observed {
            ports: vec![PortBinding {
                target: 8080,
                protocol: Protocol::Tcp,
                host_ip: "127.0.0.1".into(),
                host_port: 32768,
            }],
            ..container("c1", "t1", Status::Running)
        };
        let containers = [running];
        let look = |probes: &[Verdict], last: &BTreeMap<String, TaskReport>| {
            let probes = probes
                .iter()
                .map(|verdict| ("t1".to_owned(), verdict.clone()))
                .collect();
            plan(&tasks, &containers, &probes, last, &BTreeSet::new()).reports
        };
        let starting = look(&[], &BTreeMap::new());
        assert_eq!((starting[0].healthy, starting[0].health_starting), (None, true));
        assert_eq!(look(&[Verdict::Starting], &reported(&starting)), []);
        let failing = look(
            &[Verdict::Failing("connection refused".into())],
            &reported(&starting),
        );
        assert_eq!(
            (failing[0].healthy, failing[0].health_starting),
            (Some(false), false)
        );
        assert_eq!(failing[0].message, "probe tcp :8080 failing: connection refused");
        let passing = look(&[Verdict::Passing], &reported(&failing));
        assert_eq!(passing[0].healthy, Some(true));
    }

    #[test]
    fn containers_of_tasks_no_longer_assigned_are_removed() {
        let stray = container("c9", "t9", exited(0));
        let plan = plan(
            &assigned(&[]),
            std::slice::from_ref(&stray),
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        assert_eq!(
            plan.operations,
            vec![Operation::Remove {
                task_id: "t9".into(),
                containers: vec![stray]
            }]
        );
    }

    #[test]
    fn an_ended_task_is_never_run_again_nor_reported_again() {
        let tasks = assigned(&[assignment("t1")]);
        let containers = [container("c1", "t1", exited(1))];
        let first = plan(
            &tasks,
            &containers,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        assert_eq!(first.operations, vec![]);
        assert_eq!(first.reports[0].state, TaskState::Failed);
        let after = plan(
            &tasks,
            &containers,
            &BTreeMap::new(),
            &reported(&first.reports),
            &BTreeSet::new(),
        );
        assert_eq!(after, Plan::default());
        // Gone by hand after it failed: still nothing to do.
        let gone = plan(
            &tasks,
            &[],
            &BTreeMap::new(),
            &reported(&first.reports),
            &BTreeSet::new(),
        );
        assert_eq!(gone, Plan::default());
    }

    #[test]
    fn a_task_whose_container_vanished_fails_instead_of_running_again() {
        let last = TaskReport {
            container_id: Some("c1".into()),
            ..progress("t1", TaskState::Running, "started")
        };
        let plan = plan(
            &assigned(&[assignment("t1")]),
            &[],
            &BTreeMap::new(),
            &reported(&[last]),
            &BTreeSet::new(),
        );
        assert_eq!(plan.operations, vec![]);
        assert_eq!(plan.reports[0].state, TaskState::Failed);
        assert_eq!(plan.reports[0].message, REMOVED_OUTSIDE);
    }

    #[test]
    fn a_task_to_shut_down_is_stopped_then_reported() {
        let mut task = assignment("t1");
        task.desired = DesiredState::Shutdown;
        let tasks = assigned(&[task]);
        let stopping = plan(
            &tasks,
            &[container("c1", "t1", Status::Running)],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        assert_eq!(
            stopping.operations,
            vec![Operation::Stop {
                task_id: "t1".into(),
                container_id: "c1".into(),
                grace: Duration::from_secs(3)
            }]
        );
        let stopped = plan(
            &tasks,
            &[container("c1", "t1", exited(0))],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        assert_eq!(stopped.operations, vec![]);
        assert_eq!(stopped.reports[0].state, TaskState::Shutdown);
    }

    #[test]
    fn a_container_created_but_never_started_is_started() {
        let plan = plan(
            &assigned(&[assignment("t1")]),
            &[container("c1", "t1", Status::Created)],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        assert_eq!(
            plan.operations,
            vec![Operation::Start {
                task_id: "t1".into(),
                container_id: "c1".into()
            }]
        );
    }

    #[test]
    fn duplicates_go_and_the_running_one_stays() {
        let containers = [
            container("old", "t1", exited(0)),
            container("live", "t1", Status::Running),
            container("new", "t1", Status::Created),
        ];
        let plan = plan(
            &assigned(&[assignment("t1")]),
            &containers,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeSet::new(),
        );
        let [Operation::Remove { containers, .. }] = plan.operations.as_slice() else {
            panic!("{plan:?}")
        };
        let removed: Vec<&str> = containers.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(removed, ["new", "old"]);
    }

    #[test]
    fn busy_tasks_are_left_alone() {
        let busy = BTreeSet::from(["t1".to_owned(), "t9".to_owned()]);
        let plan = plan(
            &assigned(&[assignment("t1")]),
            &[container("c9", "t9", Status::Running)],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &busy,
        );
        assert_eq!(plan, Plan::default());
    }
}
