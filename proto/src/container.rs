//! What a task runs, derived from its service's spec: the container the
//! agent starts, in Docker's units. The server sends it to agents, and
//! compares two of them to know whether a spec change replaces tasks.

use crate::{service::ServiceSpec, wire::ContainerSpec};

/// A CPU count in Docker's nano-CPUs; none is zero.
pub fn nano_cpus(cpus: Option<f64>) -> i64 {
    cpus.map_or(0, |cpus| (cpus * 1e9).round() as i64)
}

impl ContainerSpec {
    pub fn of(spec: &ServiceSpec) -> Self {
        let limits = &spec.resources.limits;
        Self {
            image: spec.image.clone(),
            entrypoint: spec.entrypoint.clone(),
            command: spec.command.clone(),
            environment: spec.environment.clone(),
            ports: spec.ports.clone(),
            networks: spec.networks.clone(),
            healthcheck: spec.healthcheck.clone(),
            probe: spec.probe.clone(),
            nano_cpus: limits.cpus.map(|cpus| nano_cpus(Some(cpus))),
            memory_bytes: limits
                .memory
                .map(|size| i64::try_from(size.0).unwrap_or(i64::MAX)),
            stop_grace_period: spec.stop_grace_period,
            pull_policy: spec.pull_policy,
            registry_auth: spec.registry_auth.clone(),
        }
    }
}

/// Whether changing the spec from `old` to `new` changes what tasks run or
/// where they may run: then the change is rolled out.
pub fn replaces_tasks(old: &ServiceSpec, new: &ServiceSpec) -> bool {
    ContainerSpec::of(old) != ContainerSpec::of(new) || old.constraints != new.constraints
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        serde_json::from_value(serde_json::json!({"name": "web", "image": "shoal-demo:v1"})).unwrap()
    }

    #[test]
    fn a_new_image_replaces_tasks_but_a_new_replica_count_does_not() {
        let old = spec();
        let mut scaled = old.clone();
        scaled.replicas = Some(7);
        assert!(!replaces_tasks(&old, &scaled));
        let mut new_image = old.clone();
        new_image.image = "shoal-demo:v2".into();
        assert!(replaces_tasks(&old, &new_image));
    }

    #[test]
    fn half_a_cpu_is_half_a_billion_nano_cpus() {
        assert_eq!(nano_cpus(Some(0.5)), 500_000_000);
        assert_eq!(nano_cpus(None), 0);
    }
}
