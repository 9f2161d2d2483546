//! Which tasks the agent probes, and the address it probes each one at.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use shoal_proto::{
    service::{DesiredState, Probe, ProbeKind, Protocol},
    wire::{Assignment, PortBinding},
};

use crate::tasks::runtime::{Observed, Status};

/// One task's probe, aimed at its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub container_id: String,
    pub addr: SocketAddr,
    pub probe: Probe,
}

/// The probe of every task whose container runs and should, keyed by task.
/// A task whose port has no usable host binding gets none: its health says
/// why instead (see [`address`]).
pub fn targets(
    assignments: &BTreeMap<String, Assignment>,
    containers: &[Observed],
) -> BTreeMap<String, Target> {
    containers
        .iter()
        .filter(|container| container.status == Status::Running)
        .filter_map(|container| {
            let assignment = assignments.get(&container.task_id)?;
            if assignment.desired != DesiredState::Running {
                return None;
            }
            let probe = assignment.container.probe.clone()?;
            let addr = address(&probe, &container.ports).ok()?;
            let target = Target {
                container_id: container.id.clone(),
                addr,
                probe,
            };
            Some((container.task_id.clone(), target))
        })
        .collect()
}

/// Where the node reaches the probed port: its host binding, through the
/// loopback address when the binding is on every address.
pub fn address(probe: &Probe, ports: &[PortBinding]) -> Result<SocketAddr, String> {
    let binding = ports
        .iter()
        .find(|binding| binding.target == probe.port && binding.protocol == Protocol::Tcp)
        .ok_or_else(|| format!("the container has no host port for {}/tcp", probe.port))?;
    let ip = match binding.host_ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        Ok(ip) => ip,
        // The engine leaves the address out when it binds every one.
        Err(_) if binding.host_ip.is_empty() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Err(_) => {
            return Err(format!(
                "port {} is bound to {:?}, which is not an IP address",
                probe.port, binding.host_ip
            ));
        }
    };
    Ok(SocketAddr::new(ip, binding.host_port))
}

/// `probe http :8080/health`, `probe tcp :5432`: the probe as messages name it.
pub fn describe(probe: &Probe) -> String {
    match probe.kind {
        ProbeKind::Http => format!(
            "probe http :{}{}",
            probe.port,
            probe.path.as_deref().unwrap_or("/")
        ),
        ProbeKind::Tcp => format!("probe tcp :{}", probe.port),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tasks::plan::tests::{assignment, probe};

    fn binding(target: u16, protocol: Protocol, host_ip: &str, host_port: u16) -> PortBinding {
        PortBinding {
            target,
            protocol,
            host_ip: host_ip.into(),
            host_port,
        }
    }

    fn running(id: &str, task_id: &str, ports: Vec<PortBinding>) -> Observed {
        Observed {
            id: id.into(),
            task_id: task_id.into(),
            status: Status::Running,
            health: None,
            error: None,
            ports,
            stop_grace: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_probe_goes_to_the_host_binding_of_its_tcp_port() {
        let probe = probe(ProbeKind::Http, 8080);
        let ports = [
            binding(8080, Protocol::Udp, "10.0.0.5", 1000),
            binding(8080, Protocol::Tcp, "0.0.0.0", 32768),
            binding(8080, Protocol::Tcp, "::", 32768),
        ];
        assert_eq!(address(&probe, &ports), Ok("127.0.0.1:32768".parse().unwrap()));
        let on = |host_ip| address(&probe, &[binding(8080, Protocol::Tcp, host_ip, 1)]);
        assert_eq!(on("::"), Ok("[::1]:1".parse().unwrap()));
        assert_eq!(on(""), Ok("127.0.0.1:1".parse().unwrap()));
        assert_eq!(on("10.0.0.5"), Ok("10.0.0.5:1".parse().unwrap()));
        assert_eq!(
            on("localhost"),
            Err(r#"port 8080 is bound to "localhost", which is not an IP address"#.into())
        );
        assert_eq!(
            address(&probe, &ports[..1]),
            Err("the container has no host port for 8080/tcp".into())
        );
    }

    #[test]
    fn only_running_tasks_with_a_probe_and_a_port_are_probed() {
        let mut probed = assignment("probed");
        probed.container.probe = Some(probe(ProbeKind::Tcp, 8080));
        let mut stopping = probed.clone();
        stopping.task_id = "stopping".into();
        stopping.desired = DesiredState::Shutdown;
        let mut unbound = probed.clone();
        unbound.task_id = "unbound".into();
        let mut exited = probed.clone();
        exited.task_id = "exited".into();
        let assignments: BTreeMap<String, Assignment> =
            [probed, stopping, unbound, exited, assignment("plain")]
                .into_iter()
                .map(|task| (task.task_id.clone(), task))
                .collect();
        let port = || vec![binding(8080, Protocol::Tcp, "0.0.0.0", 32768)];
        let containers = [
            running("c1", "probed", port()),
            running("c2", "stopping", port()),
            running("c3", "unbound", Vec::new()),
            Observed {
                status: Status::Exited {
                    code: 0,
                    out_of_memory: false,
                },
                ..running("c4", "exited", port())
            },
            running("c5", "plain", port()),
            running("c6", "stray", port()),
        ];
        let targets = targets(&assignments, &containers);
        assert_eq!(targets.keys().collect::<Vec<_>>(), ["probed"]);
        assert_eq!(
            targets["probed"],
            Target {
                container_id: "c1".into(),
                addr: "127.0.0.1:32768".parse().unwrap(),
                probe: probe(ProbeKind::Tcp, 8080),
            }
        );
    }

    #[test]
    fn a_probe_is_named_by_kind_port_and_path() {
        let mut http = probe(ProbeKind::Http, 8080);
        assert_eq!(describe(&http), "probe http :8080/");
        http.path = Some("/health".into());
        assert_eq!(describe(&http), "probe http :8080/health");
        assert_eq!(describe(&probe(ProbeKind::Tcp, 5432)), "probe tcp :5432");
    }
}
