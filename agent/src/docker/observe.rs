//! A container as the reconciler sees it, read off Docker's inspection.

use std::time::Duration;

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum, PortMap};
use shoal_proto::{service::Protocol, wire::PortBinding};

use super::labels::TASK_ID;
use crate::tasks::{Health, Observed, Status};

/// Docker's own default, for containers created without a stop timeout.
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

pub fn observed(inspection: ContainerInspectResponse) -> Observed {
    let state = inspection.state.unwrap_or_default();
    let config = inspection.config.unwrap_or_default();
    let status = match state.status {
        Some(ContainerStateStatusEnum::CREATED) => Status::Created,
        Some(
            ContainerStateStatusEnum::RUNNING
            | ContainerStateStatusEnum::PAUSED
            | ContainerStateStatusEnum::RESTARTING
            | ContainerStateStatusEnum::STOPPING,
        ) => Status::Running,
        Some(ContainerStateStatusEnum::REMOVING) => Status::Removing,
        _ => Status::Exited {
            code: state.exit_code.unwrap_or_default(),
            out_of_memory: state.oom_killed.unwrap_or_default(),
        },
    };
    let health = match state.health.and_then(|health| health.status) {
        Some(HealthStatusEnum::STARTING) => Some(Health::Starting),
        Some(HealthStatusEnum::HEALTHY) => Some(Health::Passing),
        Some(HealthStatusEnum::UNHEALTHY) => Some(Health::Failing),
        // `none`, or no health section: the container has no check.
        _ => None,
    };
    Observed {
        id: inspection.id.unwrap_or_default(),
        task_id: config
            .labels
            .and_then(|mut labels| labels.remove(TASK_ID))
            .unwrap_or_default(),
        status,
        health,
        error: state.error.filter(|error| !error.is_empty()),
        ports: inspection
            .network_settings
            .and_then(|settings| settings.ports)
            .map(bindings)
            .unwrap_or_default(),
        stop_grace: config
            .stop_timeout
            .and_then(|seconds| u64::try_from(seconds).ok())
            .map_or(DEFAULT_STOP_GRACE, Duration::from_secs),
    }
}

/// In a stable order, so that an unchanged container reads the same twice.
fn bindings(ports: PortMap) -> Vec<PortBinding> {
    let mut found: Vec<PortBinding> = ports
        .into_iter()
        .filter_map(|(key, bindings)| Some((parse_key(&key)?, bindings?)))
        .flat_map(|((target, protocol), bindings)| {
            bindings.into_iter().filter_map(move |binding| {
                Some(PortBinding {
                    target,
                    protocol,
                    host_ip: binding.host_ip.unwrap_or_default(),
                    host_port: binding.host_port?.parse().ok()?,
                })
            })
        })
        .collect();
    found.sort_by(|a, b| {
        (a.target, a.protocol, &a.host_ip, a.host_port).cmp(&(b.target, b.protocol, &b.host_ip, b.host_port))
    });
    found
}

/// `8080/tcp`; SCTP, which services cannot ask for, is left out.
fn parse_key(key: &str) -> Option<(u16, Protocol)> {
    let (port, protocol) = key.split_once('/')?;
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return None,
    };
    Some((port.parse().ok()?, protocol))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{ContainerConfig, ContainerState, Health as EngineHealth, NetworkSettings};

    use super::*;

    fn inspection(state: ContainerState, ports: PortMap) -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("c1".into()),
            state: Some(state),
            config: Some(ContainerConfig {
                labels: Some(HashMap::from([(TASK_ID.to_owned(), "t1".to_owned())])),
                stop_timeout: Some(3),
                ..ContainerConfig::default()
            }),
            network_settings: Some(NetworkSettings {
                ports: Some(ports),
                ..NetworkSettings::default()
            }),
            ..ContainerInspectResponse::default()
        }
    }

    fn binding(ip: &str, port: &str) -> bollard::models::PortBinding {
        bollard::models::PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        }
    }

    #[test]
    fn a_running_container_shows_its_health_and_host_ports() {
        let state = ContainerState {
            status: Some(ContainerStateStatusEnum::RUNNING),
            health: Some(EngineHealth {
                status: Some(HealthStatusEnum::HEALTHY),
                ..EngineHealth::default()
            }),
            error: Some(String::new()),
            ..ContainerState::default()
        };
        let ports = HashMap::from([
            (
                "8080/tcp".to_owned(),
                Some(vec![binding("0.0.0.0", "49154"), binding("::", "49154")]),
            ),
            ("9000/tcp".to_owned(), None),
            ("53/udp".to_owned(), Some(vec![binding("10.0.0.5", "49153")])),
        ]);
        let container = observed(inspection(state, ports));
        assert_eq!(container.id, "c1");
        assert_eq!(container.task_id, "t1");
        assert_eq!(container.status, Status::Running);
        assert_eq!(container.health, Some(Health::Passing));
        assert_eq!(container.error, None);
        assert_eq!(container.stop_grace, Duration::from_secs(3));
        let ports: Vec<_> = container
            .ports
            .iter()
            .map(|p| (p.target, p.protocol, p.host_ip.as_str(), p.host_port))
            .collect();
        assert_eq!(
            ports,
            [
                (53, Protocol::Udp, "10.0.0.5", 49153),
                (8080, Protocol::Tcp, "0.0.0.0", 49154),
                (8080, Protocol::Tcp, "::", 49154),
            ]
        );
    }

    #[test]
    fn a_health_check_may_be_starting_failing_or_absent() {
        for (status, health) in [
            (Some(HealthStatusEnum::STARTING), Some(Health::Starting)),
            (Some(HealthStatusEnum::UNHEALTHY), Some(Health::Failing)),
            (Some(HealthStatusEnum::NONE), None),
            (None, None),
        ] {
            let state = ContainerState {
                status: Some(ContainerStateStatusEnum::RUNNING),
                health: Some(EngineHealth {
                    status,
                    ..EngineHealth::default()
                }),
                ..ContainerState::default()
            };
            assert_eq!(observed(inspection(state, HashMap::new())).health, health);
        }
    }

    #[test]
    fn an_ended_container_shows_how() {
        let state = ContainerState {
            status: Some(ContainerStateStatusEnum::EXITED),
            exit_code: Some(137),
            oom_killed: Some(true),
            ..ContainerState::default()
        };
        let container = observed(inspection(state, HashMap::new()));
        assert_eq!(
            container.status,
            Status::Exited {
                code: 137,
                out_of_memory: true
            }
        );
        assert_eq!(container.health, None);
    }

    #[test]
    fn a_container_that_failed_to_start_shows_why() {
        let state = ContainerState {
            status: Some(ContainerStateStatusEnum::CREATED),
            error: Some("port is already allocated".into()),
            ..ContainerState::default()
        };
        let container = observed(inspection(state, HashMap::new()));
        assert_eq!(container.status, Status::Created);
        assert_eq!(container.error.as_deref(), Some("port is already allocated"));
    }
}
