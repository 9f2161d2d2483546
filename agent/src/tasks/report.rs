//! What the agent tells the server about a task, read off its container.

use shoal_proto::{
    service::{DesiredState, TaskState},
    wire::{Assignment, TaskReport},
};

use super::{
    health::judge,
    probe::Verdict,
    runtime::{Observed, Status},
};

pub const STOPPED: &str = "stopped by the orchestrator";
pub const REMOVED_OUTSIDE: &str = "container removed outside Shoal";

/// Whether a task has ended for good; the agent then never acts on it again.
pub fn ended(state: TaskState) -> bool {
    state >= TaskState::Complete
}

/// A report without a container, health or ports yet.
pub fn progress(task_id: &str, state: TaskState, message: impl Into<String>) -> TaskReport {
    TaskReport {
        task_id: task_id.to_owned(),
        state,
        message: message.into(),
        error: None,
        container_id: None,
        exit_code: None,
        healthy: None,
        health_starting: false,
        ports: Vec::new(),
    }
}

/// A task that ended on `error`; the message says which step failed.
pub fn failure(task_id: &str, state: TaskState, message: impl Into<String>, error: String) -> TaskReport {
    TaskReport {
        error: Some(error),
        ..progress(task_id, state, message)
    }
}

/// The task's state as its container (and the probe's latest verdict)
/// shows it, `None` when the container says nothing yet (it is being
/// removed, or there is none and the task has yet to be started).
pub fn observed(
    assignment: &Assignment,
    container: Option<&Observed>,
    probe: Option<&Verdict>,
    last: Option<&TaskReport>,
) -> Option<TaskReport> {
    let task_id = assignment.task_id.as_str();
    let shutdown = assignment.desired == DesiredState::Shutdown;
    let Some(container) = container else {
        let had_container = last.is_some_and(|report| report.container_id.is_some());
        return match (shutdown, had_container) {
            (true, true) => Some(progress(task_id, TaskState::Shutdown, STOPPED)),
            (true, false) => Some(progress(
                task_id,
                TaskState::Shutdown,
                "shut down before it started",
            )),
            (false, true) => Some(failure(
                task_id,
                TaskState::Failed,
                REMOVED_OUTSIDE,
                REMOVED_OUTSIDE.into(),
            )),
            (false, false) => None,
        };
    };
    let of_container = |report: TaskReport| TaskReport {
        container_id: Some(container.id.clone()),
        ..report
    };
    let report = match container.status {
        Status::Removing => return None,
        Status::Running => {
            let health = judge(&assignment.container, container, probe);
            TaskReport {
                healthy: health.healthy,
                health_starting: health.starting,
                ports: container.ports.clone(),
                ..progress(task_id, TaskState::Running, health.message)
            }
        }
        Status::Created | Status::Exited { .. } if shutdown => TaskReport {
            exit_code: exit_code(container.status),
            ..progress(task_id, TaskState::Shutdown, STOPPED)
        },
        Status::Created => match &container.error {
            Some(error) => failure(
                task_id,
                TaskState::Failed,
                "cannot start the container",
                error.clone(),
            ),
            None => progress(task_id, TaskState::Starting, "created, not started yet"),
        },
        Status::Exited { code, out_of_memory } => {
            let message = match out_of_memory {
                true => format!("exited with code {code} (out of memory)"),
                false => format!("exited with code {code}"),
            };
            TaskReport {
                exit_code: Some(code),
                ..match code {
                    0 => progress(task_id, TaskState::Complete, message),
                    // The engine's error, when it has one, says more: it
                    // could not run the process at all.
                    _ => {
                        let error = container.error.clone().unwrap_or_else(|| message.clone());
                        failure(task_id, TaskState::Failed, message, error)
                    }
                }
            }
        }
    };
    Some(of_container(report))
}

fn exit_code(status: Status) -> Option<i64> {
    match status {
        Status::Exited { code, .. } => Some(code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shoal_proto::wire::PortBinding;

    use super::*;
    use crate::tasks::{plan::tests::assignment, runtime::Health};

    fn container(status: Status) -> Observed {
        Observed {
            id: "c1".into(),
            task_id: "t1".into(),
            status,
            health: None,
            error: None,
            ports: Vec::new(),
            stop_grace: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_running_container_reports_its_health_and_ports() {
        let port = PortBinding {
            target: 8080,
            protocol: Default::default(),
            host_ip: "0.0.0.0".into(),
            host_port: 32768,
        };
        let running = Observed {
            health: Some(Health::Failing),
            ports: vec![port.clone()],
            ..container(Status::Running)
        };
        let report = observed(&assignment("t1"), Some(&running), None, None).unwrap();
        assert_eq!(report.state, TaskState::Running);
        assert_eq!(report.message, "health check failing");
        assert_eq!(report.healthy, Some(false));
        assert_eq!(report.ports, vec![port]);
        assert_eq!(report.container_id.as_deref(), Some("c1"));
        assert_eq!(report.error, None);
    }

    #[test]
    fn an_exit_is_complete_only_with_code_zero() {
        let exited = |code, out_of_memory| {
            observed(
                &assignment("t1"),
                Some(&container(Status::Exited { code, out_of_memory })),
                None,
                None,
            )
            .unwrap()
        };
        let complete = exited(0, false);
        assert_eq!(
            (complete.state, complete.exit_code, complete.error),
            (TaskState::Complete, Some(0), None)
        );
        let failed = exited(137, true);
        assert_eq!((failed.state, failed.exit_code), (TaskState::Failed, Some(137)));
        assert_eq!(failed.message, "exited with code 137 (out of memory)");
        assert_eq!(
            failed.error.as_deref(),
            Some("exited with code 137 (out of memory)")
        );
    }

    #[test]
    fn a_container_that_could_not_start_says_why() {
        let broken = Observed {
            error: Some("port is already allocated".into()),
            ..container(Status::Created)
        };
        let report = observed(&assignment("t1"), Some(&broken), None, None).unwrap();
        assert_eq!(report.state, TaskState::Failed);
        assert_eq!(report.error.as_deref(), Some("port is already allocated"));
    }

    #[test]
    fn a_stopped_task_is_shut_down_with_its_exit_code() {
        let mut stopping = assignment("t1");
        stopping.desired = DesiredState::Shutdown;
        let exited = container(Status::Exited {
            code: 143,
            out_of_memory: false,
        });
        let report = observed(&stopping, Some(&exited), None, None).unwrap();
        assert_eq!((report.state, report.exit_code), (TaskState::Shutdown, Some(143)));
        assert_eq!(report.message, STOPPED);
        let never_started = observed(&stopping, None, None, None).unwrap();
        assert_eq!(never_started.state, TaskState::Shutdown);
    }

    #[test]
    fn a_vanished_container_fails_its_task() {
        let last = TaskReport {
            container_id: Some("c1".into()),
            ..progress("t1", TaskState::Running, "started")
        };
        let report = observed(&assignment("t1"), None, None, Some(&last)).unwrap();
        assert_eq!(report.state, TaskState::Failed);
        assert_eq!(report.message, REMOVED_OUTSIDE);
        assert_eq!(observed(&assignment("t1"), None, None, None), None);
    }
}
