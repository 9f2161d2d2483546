//! A running task's health as reported: Docker's health check and the
//! agent's probe, where the task has them, must both pass.

use shoal_proto::wire::ContainerSpec;

use super::{
    probe::{self, Verdict},
    runtime::{Health, Observed},
};

#[derive(Debug, PartialEq, Eq)]
pub struct Reading {
    /// `None` without a check, or while a check is starting and none fails.
    pub healthy: Option<bool>,
    /// Some check has neither passed nor failed yet, and none fails.
    pub starting: bool,
    /// What the checks that decide say: the failing ones, else the starting
    /// ones, else all.
    pub message: String,
}

/// `probe` is the probe's latest verdict, if it has run.
pub fn judge(spec: &ContainerSpec, container: &Observed, probe: Option<&Verdict>) -> Reading {
    let mut signals: Vec<(Health, String)> = Vec::new();
    if let Some(health) = container.health {
        let word = match health {
            Health::Passing => "passing",
            Health::Starting => "starting",
            Health::Failing => "failing",
        };
        signals.push((health, format!("health check {word}")));
    }
    if let Some(spec) = &spec.probe {
        // A probe that cannot run must not pass for one that does.
        let verdict = match probe::address(spec, &container.ports) {
            Err(why) => Verdict::Failing(why),
            Ok(_) => probe.cloned().unwrap_or(Verdict::Starting),
        };
        let name = probe::describe(spec);
        signals.push(match verdict {
            Verdict::Passing => (Health::Passing, format!("{name} passing")),
            Verdict::Starting => (Health::Starting, format!("{name} starting")),
            Verdict::Failing(why) => (Health::Failing, format!("{name} failing: {why}")),
        });
    }
    let Some(worst) = signals.iter().map(|(health, _)| *health).max() else {
        return Reading {
            healthy: None,
            starting: false,
            message: "started".into(),
        };
    };
    let message = signals
        .into_iter()
        .filter(|(health, _)| *health == worst)
        .map(|(_, message)| message)
        .collect::<Vec<_>>()
        .join("; ");
    Reading {
        healthy: match worst {
            Health::Passing => Some(true),
            Health::Starting => None,
            Health::Failing => Some(false),
        },
        starting: worst == Health::Starting,
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shoal_proto::{
        service::{Probe, ProbeKind, Protocol},
        wire::PortBinding,
    };

    use super::*;
    use crate::tasks::{
        plan::tests::{assignment, probe},
        runtime::Status,
    };

    fn container(health: Option<Health>) -> Observed {
        Observed {
            id: "c1".into(),
            task_id: "t1".into(),
            status: Status::Running,
            health,
            error: None,
            ports: vec![PortBinding {
                target: 8080,
                protocol: Protocol::Tcp,
                host_ip: "0.0.0.0".into(),
                host_port: 32768,
            }],
            stop_grace: Duration::from_secs(10),
        }
    }

    fn probed() -> ContainerSpec {
        ContainerSpec {
            probe: Some(Probe {
                path: Some("/health".into()),
                ..probe(ProbeKind::Http, 8080)
            }),
            ..assignment("t1").container
        }
    }

    fn reading(healthy: Option<bool>, starting: bool, message: &str) -> Reading {
        Reading {
            healthy,
            starting,
            message: message.into(),
        }
    }

    #[test]
    fn without_checks_health_is_unknown() {
        let plain = assignment("t1").container;
        assert_eq!(
            judge(&plain, &container(None), None),
            reading(None, false, "started")
        );
    }

    #[test]
    fn dockers_check_alone_decides_when_there_is_no_probe() {
        let plain = assignment("t1").container;
        for (health, expected) in [
            (Health::Starting, reading(None, true, "health check starting")),
            (
                Health::Passing,
                reading(Some(true), false, "health check passing"),
            ),
            (
                Health::Failing,
                reading(Some(false), false, "health check failing"),
            ),
        ] {
            assert_eq!(judge(&plain, &container(Some(health)), None), expected);
        }
    }

    #[test]
    fn a_probe_that_has_not_run_yet_is_starting() {
        assert_eq!(
            judge(&probed(), &container(None), None),
            reading(None, true, "probe http :8080/health starting")
        );
        assert_eq!(
            judge(&probed(), &container(None), Some(&Verdict::Passing)),
            reading(Some(true), false, "probe http :8080/health passing")
        );
    }

    #[test]
    fn every_check_must_pass_and_the_failing_ones_are_named() {
        let failing = Verdict::Failing("connection refused".into());
        let cases = [
            (
                Health::Passing,
                Verdict::Passing,
                reading(
                    Some(true),
                    false,
                    "health check passing; probe http :8080/health passing",
                ),
            ),
            (
                Health::Passing,
                Verdict::Starting,
                reading(None, true, "probe http :8080/health starting"),
            ),
            (
                Health::Starting,
                failing.clone(),
                reading(
                    Some(false),
                    false,
                    "probe http :8080/health failing: connection refused",
                ),
            ),
            (
                Health::Failing,
                Verdict::Passing,
                reading(Some(false), false, "health check failing"),
            ),
            (
                Health::Failing,
                failing.clone(),
                reading(
                    Some(false),
                    false,
                    "health check failing; probe http :8080/health failing: connection refused",
                ),
            ),
        ];
        for (docker, verdict, expected) in cases {
            assert_eq!(
                judge(&probed(), &container(Some(docker)), Some(&verdict)),
                expected
            );
        }
    }

    #[test]
    fn a_probe_without_a_host_port_fails() {
        let unbound = Observed {
            ports: Vec::new(),
            ..container(None)
        };
        assert_eq!(
            judge(&probed(), &unbound, Some(&Verdict::Passing)),
            reading(
                Some(false),
                false,
                "probe http :8080/health failing: the container has no host port for 8080/tcp"
            )
        );
    }
}
