//! A task's container as Docker's create request: its name, labels,
//! process, health check, limits, ports, and for a task on service
//! networks, the agent's resolver.

use std::{collections::HashMap, net::IpAddr};

use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, PortBinding, PortMap, RestartPolicy, RestartPolicyNameEnum,
};
use shoal_proto::{
    network::RESOLVER,
    service::{Duration, HealthCheck, PortConfig, Protocol, PublishMode},
    wire::Assignment,
};

use super::{Node, labels::labels};

/// The resolver's options in a networked container's resolv.conf. The
/// agent opens the resolver a moment after the container starts (when the
/// engine says it did): a program that resolves a name at once has its
/// query asked again each second, five times, instead of failing. On
/// glibc, `attempts` counts every nameserver; there is one.
const RESOLVER_OPTIONS: [&str; 2] = ["attempts:5", "timeout:1"];

/// Enough of a node id to tell the nodes of a cluster apart in a name.
const NODE_ID_PREFIX: usize = 12;

/// `shoal-<service>.<slot>.<task>`, or with the node instead of the slot for
/// a global service, as Swarm names its containers: `docker ps` shows which
/// service and replica each one is.
pub fn name(assignment: &Assignment, node_id: &str) -> String {
    let place = match assignment.slot {
        Some(slot) => slot.to_string(),
        None => node_id.chars().take(NODE_ID_PREFIX).collect(),
    };
    format!("shoal-{}.{place}.{}", assignment.service_name, assignment.task_id)
}

pub fn body(assignment: &Assignment, node: &Node) -> ContainerCreateBody {
    let spec = &assignment.container;
    let environment = spec
        .environment
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let (exposed, bindings) = ports(&spec.ports, node.host_ip);
    let networked = !spec.networks.is_empty();
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.command.clone(),
        env: Some(environment),
        labels: Some(labels(assignment, &node.id)),
        healthcheck: spec.healthcheck.as_ref().map(healthcheck),
        stop_timeout: Some(whole_seconds(spec.stop_grace_period)),
        exposed_ports: Some(exposed),
        host_config: Some(HostConfig {
            // The server replaces a task that ended with a new one; an engine
            // restarting the container would hide the end from it.
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            port_bindings: Some(bindings),
            nano_cpus: spec.nano_cpus,
            memory: spec.memory_bytes,
            // On a network, names resolve through the agent inside the
            // container (docs/networking.md, On the node); otherwise as Docker does.
            dns: networked.then(|| vec![RESOLVER.to_string()]),
            dns_options: networked.then(|| RESOLVER_OPTIONS.map(str::to_owned).to_vec()),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

/// Host mode binds the published port itself. Every other port gets a free
/// host port the engine picks, reported back to the server: the ingress
/// routing mesh forwards the published port there.
fn ports(ports: &[PortConfig], host_ip: IpAddr) -> (Vec<String>, PortMap) {
    let mut exposed = Vec::new();
    let mut bindings: PortMap = HashMap::new();
    for port in ports {
        let key = format!("{}/{}", port.target, protocol(port.protocol));
        let host_port = match (port.mode, port.published) {
            (PublishMode::Host, Some(published)) => published.to_string(),
            _ => String::new(),
        };
        let binding = PortBinding {
            host_ip: Some(host_ip.to_string()),
            host_port: Some(host_port),
        };
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings
            .entry(key)
            .or_default()
            .get_or_insert_default()
            .push(binding);
    }
    (exposed, bindings)
}

pub fn protocol(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

fn healthcheck(check: &HealthCheck) -> HealthConfig {
    if check.disable {
        return HealthConfig {
            test: Some(vec!["NONE".to_owned()]),
            ..HealthConfig::default()
        };
    }
    HealthConfig {
        // Left empty, the image's own test applies with these timings.
        test: (!check.test.is_empty()).then(|| check.test.clone()),
        interval: check.interval.map(nanoseconds),
        timeout: check.timeout.map(nanoseconds),
        retries: check.retries.map(i64::from),
        start_period: check.start_period.map(nanoseconds),
        start_interval: None,
    }
}

fn nanoseconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}

/// Docker counts stop timeouts in whole seconds; rounding up never cuts a
/// grace period short.
pub fn whole_seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis().div_ceil(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shoal_proto::{
        service::{DesiredState, PullPolicy},
        wire::ContainerSpec,
    };

    use super::*;

    fn assignment() -> Assignment {
        Assignment {
            task_id: "t1".into(),
            service_id: "s1".into(),
            service_name: "web".into(),
            slot: Some(2),
            revision: 7,
            desired: DesiredState::Running,
            container: ContainerSpec {
                image: "shoal-demo:v1".into(),
                entrypoint: Some(vec!["/shoal-demo".into()]),
                command: None,
                environment: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "x=y".into())]),
                ports: Vec::new(),
                networks: Vec::new(),
                healthcheck: None,
                probe: None,
                nano_cpus: Some(500_000_000),
                memory_bytes: Some(64 << 20),
                stop_grace_period: Duration::from_millis(2500),
                pull_policy: PullPolicy::Missing,
                registry_auth: None,
            },
        }
    }

    fn node(host_ip: &str) -> Node {
        Node {
            id: "0123456789abcdef01234567".into(),
            host_ip: host_ip.parse().unwrap(),
        }
    }

    #[test]
    fn names_say_service_slot_and_task() {
        let mut task = assignment();
        assert_eq!(name(&task, "0123456789abcdef01234567"), "shoal-web.2.t1");
        task.slot = None;
        assert_eq!(
            name(&task, "0123456789abcdef01234567"),
            "shoal-web.0123456789ab.t1"
        );
    }

    #[test]
    fn the_container_carries_its_task_and_node() {
        let body = body(&assignment(), &node("0.0.0.0"));
        let labels = body.labels.unwrap();
        let label = |key: &str| labels[key].as_str();
        assert_eq!(label("shoal.service.id"), "s1");
        assert_eq!(label("shoal.service.name"), "web");
        assert_eq!(label("shoal.task.id"), "t1");
        assert_eq!(label("shoal.slot"), "2");
        assert_eq!(label("shoal.revision"), "7");
        assert_eq!(label("shoal.node.id"), "0123456789abcdef01234567");
        let mut global = assignment();
        global.slot = None;
        assert_eq!(
            super::body(&global, &node("0.0.0.0")).labels.unwrap()["shoal.slot"],
            ""
        );
    }

    #[test]
    fn process_limits_and_stop_follow_the_spec() {
        let body = body(&assignment(), &node("0.0.0.0"));
        assert_eq!(body.image.as_deref(), Some("shoal-demo:v1"));
        assert_eq!(body.entrypoint, Some(vec!["/shoal-demo".to_owned()]));
        assert_eq!(body.cmd, None);
        assert_eq!(body.env, Some(vec!["A=1".to_owned(), "B=x=y".to_owned()]));
        assert_eq!(body.stop_timeout, Some(3));
        assert_eq!(body.healthcheck, None);
        let host = body.host_config.unwrap();
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.restart_policy.unwrap().name, Some(RestartPolicyNameEnum::NO));
        assert_eq!((host.dns, host.dns_options), (None, None), "not on a network");
        assert!(!body.labels.unwrap().contains_key("shoal.networks"));
    }

    #[test]
    fn a_task_on_networks_resolves_through_the_agent_and_says_its_networks() {
        let mut task = assignment();
        task.container.networks = vec!["backend".into(), "frontend".into()];
        let body = body(&task, &node("0.0.0.0"));
        let host = body.host_config.unwrap();
        assert_eq!(host.dns, Some(vec!["127.0.0.53".to_owned()]));
        assert_eq!(
            host.dns_options,
            Some(vec!["attempts:5".to_owned(), "timeout:1".to_owned()])
        );
        let labels = body.labels.unwrap();
        assert_eq!(labels["shoal.networks"], "backend,frontend");
        assert_eq!(
            super::super::labels::networks(&labels["shoal.networks"]),
            ["backend", "frontend"]
        );
    }

    #[test]
    fn health_checks_are_in_nanoseconds_and_can_be_disabled() {
        let mut task = assignment();
        task.container.healthcheck = Some(HealthCheck {
            test: vec!["CMD".into(), "/shoal-demo".into(), "check".into()],
            interval: Some(Duration::from_secs(2)),
            timeout: Some(Duration::from_millis(1500)),
            retries: Some(3),
            start_period: None,
            disable: false,
        });
        let check = body(&task, &node("0.0.0.0")).healthcheck.unwrap();
        assert_eq!(
            check.test,
            Some(vec!["CMD".into(), "/shoal-demo".into(), "check".into()])
        );
        assert_eq!(check.interval, Some(2_000_000_000));
        assert_eq!(check.timeout, Some(1_500_000_000));
        assert_eq!(check.retries, Some(3));
        assert_eq!(check.start_period, None);
        task.container.healthcheck = Some(HealthCheck {
            test: Vec::new(),
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            disable: true,
        });
        let check = body(&task, &node("0.0.0.0")).healthcheck.unwrap();
        assert_eq!(check.test, Some(vec!["NONE".into()]));
    }

    #[test]
    fn host_mode_binds_the_published_port_and_the_rest_get_a_free_one() {
        let mut task = assignment();
        task.container.ports = vec![
            PortConfig {
                target: 8080,
                published: Some(80),
                protocol: Protocol::Tcp,
                mode: PublishMode::Host,
            },
            PortConfig {
                target: 8080,
                published: Some(8080),
                protocol: Protocol::Tcp,
                mode: PublishMode::Ingress,
            },
            PortConfig {
                target: 53,
                published: None,
                protocol: Protocol::Udp,
                mode: PublishMode::Ingress,
            },
        ];
        let body = body(&task, &node("10.0.0.5"));
        assert_eq!(
            body.exposed_ports,
            Some(vec!["8080/tcp".to_owned(), "53/udp".to_owned()])
        );
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        let binding = |host_port: &str| PortBinding {
            host_ip: Some("10.0.0.5".into()),
            host_port: Some(host_port.into()),
        };
        assert_eq!(bindings["8080/tcp"], Some(vec![binding("80"), binding("")]));
        assert_eq!(bindings["53/udp"], Some(vec![binding("")]));
    }
}
