//! Checks a spec beyond what its types say, naming the field at fault.
//!
//! Fields are dotted paths into the JSON form (`ports[1].published`,
//! `update_config.max_failure_ratio`) so the console can put the message next
//! to the input and an API client can find the value. The first fault wins:
//! one clear message beats a list where later faults follow from earlier ones.
//! Warnings, about settings that are valid but likely to defeat their purpose,
//! are all listed: none stops the spec.

use std::collections::BTreeMap;

use super::units::{ByteSize, Duration};
use super::{
    Constraint, FailureAction, HealthCheck, Mode, PortConfig, Preference, Probe, ProbeKind, Protocol,
    PublishMode, ResourceRequirements, ServiceSpec, UpdateConfig,
};
use crate::FieldError;

/// What a masked registry password reads as; sending it back unchanged keeps
/// the stored one.
pub const MASKED_PASSWORD: &str = "********";

const NAME_MAX: usize = 63;
/// Docker's limit for a reference (repository, tag and digest together).
const IMAGE_MAX: usize = 255;
const ARG_MAX: usize = 4096;
const ARGS_MAX: usize = 256;
const ENV_MAX: usize = 512;
const ENV_KEY_MAX: usize = 256;
const ENV_VALUE_MAX: usize = 32768;
const REPLICAS_MAX: u64 = 10_000;
/// A whole spec as JSON: room for one environment value of the largest
/// size. Every task a node runs carries its spec to the node in one frame
/// (`wire::MAX_FRAME_BYTES`), so one service cannot be allowed to fill it.
pub const SPEC_MAX_BYTES: usize = 48 * 1024;
const PORTS_MAX: usize = 64;
const CONSTRAINTS_MAX: usize = 32;
/// Docker refuses smaller memory limits and reservations.
const MEMORY_MIN: ByteSize = ByteSize(6 << 20);
/// Longer waits are almost certainly a unit mistake (`"60m"` for `"60s"`) and
/// would hold a rollout or a node drain for that long.
const WAIT_MAX: Duration = Duration::from_secs(3600);
const PROGRESS_DEADLINE_MIN: Duration = Duration::from_secs(1);
/// Probing more often than this loads the task more than it tells.
const PROBE_INTERVAL_MIN: Duration = Duration::from_millis(100);
/// Below this a probe fails on ordinary scheduling noise.
const PROBE_TIMEOUT_MIN: Duration = Duration::from_millis(10);
const PROBE_RETRIES_MAX: u32 = 100;
/// Docker's defaults, which apply to a health check that leaves them out.
const DOCKER_INTERVAL: Duration = Duration::from_secs(30);
const DOCKER_RETRIES: u32 = 3;

type Check = Result<(), FieldError>;

fn fail(field: impl Into<String>, message: impl Into<String>) -> Check {
    Err(FieldError::new(field, message))
}

impl ServiceSpec {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name(&self.name)?;
        check_image(&self.image)?;
        if let Some(entrypoint) = &self.entrypoint {
            check_entrypoint(entrypoint)?;
        }
        if let Some(command) = &self.command {
            check_args("command", command)?;
        }
        check_environment(&self.environment)?;
        check_replicas(self.mode, self.replicas)?;
        check_ports(&self.ports)?;
        crate::network::check_service_networks(&self.networks)?;
        check_placement(&self.constraints, &self.preferences)?;
        check_resources(&self.resources)?;
        if let Some(healthcheck) = &self.healthcheck {
            check_healthcheck(healthcheck)?;
        }
        if let Some(probe) = &self.probe {
            check_probe(probe, &self.ports)?;
        }
        check_wait("stop_grace_period", self.stop_grace_period)?;
        check_wait("drain_timeout", self.drain_timeout)?;
        if let Some(auth) = &self.registry_auth
            && auth.username.trim().is_empty()
        {
            return fail("registry_auth.username", "registry credentials need a username");
        }
        check_update_config("update_config", &self.update_config)?;
        check_update_config("rollback_config", &self.rollback_config)?;
        if self.rollback_config.failure_action == FailureAction::Rollback {
            return fail(
                "rollback_config.failure_action",
                "a rollback cannot roll back: use pause or continue",
            );
        }
        check_size(self)
    }

    /// Settings that are valid but likely to defeat their purpose, each a
    /// sentence saying what to change; for the server to show next to an
    /// accepted spec.
    pub fn warnings(&self) -> Vec<String> {
        let detectors: Vec<Detector> = [
            self.healthcheck.as_ref().and_then(Detector::health_check),
            self.probe.as_ref().map(Detector::probe),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut warnings = Vec::new();
        for (field, config) in [
            ("update_config", &self.update_config),
            ("rollback_config", &self.rollback_config),
        ] {
            for detector in &detectors {
                let needed = detector.time_to_notice();
                if config.monitor < needed {
                    warnings.push(format!(
                        "{field}.monitor ({}) is shorter than the {needed} the {} needs to notice a failing task \
                         (interval {} × retries {}): raise monitor to at least {needed}, or a broken version \
                         may count as updated",
                        config.monitor, detector.name, detector.interval, detector.retries
                    ));
                }
            }
        }
        warnings
    }

    /// The spec as shown to users: the registry password masked.
    pub fn masked(&self) -> ServiceSpec {
        let mut spec = self.clone();
        if let Some(auth) = &mut spec.registry_auth {
            auth.password = MASKED_PASSWORD.to_owned();
        }
        spec
    }
}

fn check_size(spec: &ServiceSpec) -> Result<(), FieldError> {
    let size = serde_json::to_vec(spec).map_or(usize::MAX, |json| json.len());
    if size > SPEC_MAX_BYTES {
        return fail(
            "spec",
            format!(
                "the service spec is {size} bytes as JSON; the most is {} KiB: keep large values \
                 (certificates, config files) in the image or fetch them at start",
                SPEC_MAX_BYTES / 1024
            ),
        );
    }
    Ok(())
}

/// A DNS label, because the name is how tasks find the service on the
/// network.
fn check_name(name: &str) -> Check {
    if name.is_empty() {
        return fail("name", "a service needs a name");
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let dns_label = name.len() <= NAME_MAX
        && name.chars().all(|c| alnum(c) || c == '-')
        && name.starts_with(alnum)
        && !name.ends_with('-');
    if !dns_label {
        return fail(
            "name",
            format!(
                "{name:?} is not a DNS label: use 1 to {NAME_MAX} characters of a-z, 0-9 and '-', \
                 starting with a letter or digit and not ending with '-'"
            ),
        );
    }
    Ok(())
}

fn check_image(image: &str) -> Check {
    if image.is_empty() {
        return fail("image", "an image is required, e.g. nginx:1.27");
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail(
            "image",
            "an image reference cannot contain spaces or control characters",
        );
    }
    if image.len() > IMAGE_MAX {
        return fail(
            "image",
            format!("an image reference has at most {IMAGE_MAX} characters"),
        );
    }
    Ok(())
}

fn check_entrypoint(entrypoint: &[String]) -> Check {
    match entrypoint.first() {
        None => fail(
            "entrypoint",
            "an empty entrypoint leaves nothing to run; leave it out to keep the image's",
        ),
        Some(program) if program.is_empty() => fail("entrypoint[0]", "the program to run cannot be empty"),
        Some(_) => check_args("entrypoint", entrypoint),
    }
}

fn check_args(field: &str, args: &[String]) -> Check {
    if args.len() > ARGS_MAX {
        return fail(field, format!("at most {ARGS_MAX} arguments"));
    }
    for (i, arg) in args.iter().enumerate() {
        if arg.len() > ARG_MAX {
            return fail(
                format!("{field}[{i}]"),
                format!("an argument has at most {ARG_MAX} bytes"),
            );
        }
        // exec takes C strings.
        if arg.contains('\0') {
            return fail(
                format!("{field}[{i}]"),
                "an argument cannot contain a NUL character",
            );
        }
    }
    Ok(())
}

fn check_environment(environment: &BTreeMap<String, String>) -> Check {
    if environment.len() > ENV_MAX {
        return fail("environment", format!("at most {ENV_MAX} variables"));
    }
    for (key, value) in environment {
        if key.is_empty() {
            return fail("environment", "a variable needs a name");
        }
        let field = format!("environment.{key}");
        if key.contains('=') {
            return fail(field, "a variable name cannot contain '='");
        }
        if key.contains('\0') || value.contains('\0') {
            return fail(field, "a variable cannot contain a NUL character");
        }
        if key.len() > ENV_KEY_MAX {
            return fail(field, format!("a variable name has at most {ENV_KEY_MAX} bytes"));
        }
        if value.len() > ENV_VALUE_MAX {
            return fail(field, format!("a value has at most {ENV_VALUE_MAX} bytes"));
        }
    }
    Ok(())
}

fn check_replicas(mode: Mode, replicas: Option<u64>) -> Check {
    match (mode, replicas) {
        (Mode::Global, Some(_)) => fail(
            "replicas",
            "replicas applies to replicated services only; a global service runs one task per node",
        ),
        (Mode::Replicated, Some(replicas)) if replicas > REPLICAS_MAX => {
            fail("replicas", format!("at most {REPLICAS_MAX} replicas"))
        }
        _ => Ok(()),
    }
}

fn check_ports(ports: &[PortConfig]) -> Check {
    if ports.len() > PORTS_MAX {
        return fail("ports", format!("at most {PORTS_MAX} ports"));
    }
    for (i, port) in ports.iter().enumerate() {
        if port.target == 0 {
            return fail(format!("ports[{i}].target"), "a port is 1 to 65535");
        }
        let published_field = format!("ports[{i}].published");
        match port.published {
            Some(0) => return fail(published_field, "a published port is 1 to 65535"),
            None if port.mode == PublishMode::Host => {
                return fail(published_field, "a host-mode port needs a published port");
            }
            _ => {}
        }
        if let Some(published) = port.published
            && let Some(first) = ports[..i]
                .iter()
                .position(|other| other.published == Some(published) && other.protocol == port.protocol)
        {
            let protocol = match port.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            return fail(
                published_field,
                format!("{published}/{protocol} is already published by ports[{first}]"),
            );
        }
    }
    Ok(())
}

fn check_placement(constraints: &[String], preferences: &[String]) -> Check {
    if constraints.len() > CONSTRAINTS_MAX {
        return fail("constraints", format!("at most {CONSTRAINTS_MAX} constraints"));
    }
    for (i, raw) in constraints.iter().enumerate() {
        Constraint::parse(raw).map_err(|message| FieldError::new(format!("constraints[{i}]"), message))?;
    }
    for (i, raw) in preferences.iter().enumerate() {
        Preference::parse(raw).map_err(|message| FieldError::new(format!("preferences[{i}]"), message))?;
    }
    Ok(())
}

fn check_resources(resources: &ResourceRequirements) -> Check {
    let (limits, reservations) = (&resources.limits, &resources.reservations);
    for (name, amounts) in [("limits", limits), ("reservations", reservations)] {
        if let Some(cpus) = amounts.cpus
            && !(cpus.is_finite() && cpus > 0.0)
        {
            return fail(
                format!("resources.{name}.cpus"),
                "cpus is a number of cores above 0, e.g. 0.5",
            );
        }
        if let Some(memory) = amounts.memory
            && memory < MEMORY_MIN
        {
            return fail(
                format!("resources.{name}.memory"),
                format!("at least {MEMORY_MIN} (Docker's minimum)"),
            );
        }
    }
    if let (Some(reserved), Some(limit)) = (reservations.cpus, limits.cpus)
        && reserved > limit
    {
        return fail(
            "resources.reservations.cpus",
            format!("the reservation ({reserved}) exceeds the limit ({limit})"),
        );
    }
    if let (Some(reserved), Some(limit)) = (reservations.memory, limits.memory)
        && reserved > limit
    {
        return fail(
            "resources.reservations.memory",
            format!("the reservation ({reserved}) exceeds the limit ({limit})"),
        );
    }
    Ok(())
}

fn check_healthcheck(healthcheck: &HealthCheck) -> Check {
    let test = &healthcheck.test;
    if healthcheck.disable && !test.is_empty() {
        return fail(
            "healthcheck.disable",
            "disable and test contradict each other: leave out test, or disable",
        );
    }
    match test.first().map(String::as_str) {
        None => {}
        Some("CMD") if test.get(1).is_none_or(String::is_empty) => {
            return fail(
                "healthcheck.test",
                r#"CMD needs a program, e.g. ["CMD", "curl", "-f", "http://localhost/"]"#,
            );
        }
        Some("CMD-SHELL") if test.len() != 2 || test[1].is_empty() => {
            return fail(
                "healthcheck.test",
                r#"CMD-SHELL takes exactly one command string, e.g. ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]"#,
            );
        }
        Some("NONE") if test.len() != 1 => {
            return fail("healthcheck.test", "NONE takes no arguments");
        }
        Some("CMD" | "CMD-SHELL" | "NONE") => {}
        Some(other) => {
            return fail(
                "healthcheck.test[0]",
                format!("unknown test type {other:?}: use CMD, CMD-SHELL or NONE"),
            );
        }
    }
    for (name, duration) in [
        ("interval", healthcheck.interval),
        ("timeout", healthcheck.timeout),
    ] {
        if duration == Some(Duration::ZERO) {
            return fail(
                format!("healthcheck.{name}"),
                "at least 1ms; leave it out for Docker's default (30s)",
            );
        }
    }
    Ok(())
}

/// The probe reaches the task through a port binding, which exists only for
/// the ports the service lists, and connects over TCP.
fn check_probe(probe: &Probe, ports: &[PortConfig]) -> Check {
    let mut targets: Vec<u16> = ports
        .iter()
        .filter(|port| port.protocol == Protocol::Tcp)
        .map(|port| port.target)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    if !targets.contains(&probe.port) {
        let message = if targets.is_empty() {
            format!(
                "the probe reaches the task through one of its tcp ports, and ports lists none: \
                 add {{\"target\": {}}} to ports",
                probe.port
            )
        } else {
            let listed: Vec<String> = targets.iter().map(u16::to_string).collect();
            format!(
                "{} is not a tcp port of the service: probe one of its ports' targets ({}), or add it to ports",
                probe.port,
                listed.join(", ")
            )
        };
        return fail("probe.port", message);
    }
    match (probe.kind, &probe.path) {
        (ProbeKind::Tcp, Some(_)) => {
            return fail(
                "probe.path",
                "a tcp probe only opens a connection and has no path: leave path out, or use type http",
            );
        }
        (ProbeKind::Http, Some(path)) if !path.starts_with('/') => {
            return fail(
                "probe.path",
                format!("{path:?} must start with '/', e.g. /health"),
            );
        }
        // The path goes into the request line as it is.
        (ProbeKind::Http, Some(path)) if !path.chars().all(|c| c.is_ascii_graphic()) => {
            return fail(
                "probe.path",
                "a path cannot contain spaces, control or non-ASCII characters: percent-encode them (%20)",
            );
        }
        _ => {}
    }
    if probe.interval < PROBE_INTERVAL_MIN || probe.interval > WAIT_MAX {
        return fail(
            "probe.interval",
            format!("from {PROBE_INTERVAL_MIN} to {WAIT_MAX}"),
        );
    }
    if probe.timeout < PROBE_TIMEOUT_MIN {
        return fail("probe.timeout", format!("at least {PROBE_TIMEOUT_MIN}"));
    }
    if probe.timeout > probe.interval {
        return fail(
            "probe.timeout",
            format!(
                "the timeout ({}) cannot exceed the interval ({}): shorten it, or probe less often",
                probe.timeout, probe.interval
            ),
        );
    }
    if !(1..=PROBE_RETRIES_MAX).contains(&probe.retries) {
        return fail(
            "probe.retries",
            format!("from 1 to {PROBE_RETRIES_MAX} failures in a row"),
        );
    }
    check_wait("probe.start_period", probe.start_period)
}

/// A health signal, and how long it takes to call a task unhealthy.
struct Detector {
    name: &'static str,
    interval: Duration,
    retries: u32,
}

impl Detector {
    /// Only a check the spec itself defines: the image's own, or one left to
    /// it, has timings the spec cannot know.
    fn health_check(check: &HealthCheck) -> Option<Self> {
        let defined = !check.disable && check.test.first().is_some_and(|kind| kind != "NONE");
        defined.then(|| Self {
            name: "health check",
            interval: check.interval.unwrap_or(DOCKER_INTERVAL),
            // Docker reads 0 as "the default".
            retries: check
                .retries
                .filter(|&retries| retries > 0)
                .unwrap_or(DOCKER_RETRIES),
        })
    }

    fn probe(probe: &Probe) -> Self {
        Self {
            name: "probe",
            interval: probe.interval,
            retries: probe.retries,
        }
    }

    fn time_to_notice(&self) -> Duration {
        Duration::from_millis(self.interval.as_millis().saturating_mul(u64::from(self.retries)))
    }
}

fn check_wait(field: &str, duration: Duration) -> Check {
    if duration > WAIT_MAX {
        return fail(field, format!("at most {WAIT_MAX}"));
    }
    Ok(())
}

fn check_update_config(prefix: &str, config: &UpdateConfig) -> Check {
    // The range check also refuses NaN.
    if !(0.0..=1.0).contains(&config.max_failure_ratio) {
        return fail(
            format!("{prefix}.max_failure_ratio"),
            "a fraction from 0 to 1, e.g. 0.2 for a fifth of the tasks",
        );
    }
    check_wait(&format!("{prefix}.delay"), config.delay)?;
    check_wait(&format!("{prefix}.monitor"), config.monitor)?;
    if config.progress_deadline < PROGRESS_DEADLINE_MIN {
        return fail(
            format!("{prefix}.progress_deadline"),
            format!("at least {PROGRESS_DEADLINE_MIN}"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{PullPolicy, RegistryAuth, RestartCondition, RestartPolicy, UpdateOrder};

    const EXAMPLE: &str = r#"{"name": "web", "image": "shoal-demo:v1", "mode": "replicated", "replicas": 6,
        "command": ["serve"], "environment": {"GREETING": "hi"},
        "ports": [{"target": 8080, "published": 18080, "protocol": "tcp", "mode": "ingress"}],
        "constraints": ["node.role!=manager"], "preferences": ["spread=node.labels.zone"],
        "max_replicas_per_node": 2,
        "update_config": {"parallelism": 2, "delay": "0s", "failure_action": "rollback", "monitor": "5s",
                          "max_failure_ratio": 0, "order": "start-first"}}"#;

    fn example() -> ServiceSpec {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    fn minimal() -> ServiceSpec {
        serde_json::from_str(r#"{"name": "web", "image": "nginx"}"#).unwrap()
    }

    /// Applies `change` to the example and expects a refusal at `field` whose
    /// message contains `message`.
    fn refused(change: impl FnOnce(&mut ServiceSpec), field: &str, message: &str) {
        let mut spec = example();
        change(&mut spec);
        let error = spec.validate().expect_err(field);
        assert_eq!(error.field, field, "{error}");
        assert!(error.message.contains(message), "{field}: {error}");
    }

    fn accepted(change: impl FnOnce(&mut ServiceSpec)) {
        let mut spec = example();
        change(&mut spec);
        if let Err(error) = spec.validate() {
            panic!("refused: {error}");
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn the_issue_example_parses_and_validates() {
        let spec = example();
        spec.validate().unwrap();
        assert_eq!(spec.replica_count(), Some(6));
        assert_eq!(spec.command, Some(strings(&["serve"])));
        assert_eq!(spec.environment["GREETING"], "hi");
        assert_eq!(spec.ports[0].published, Some(18080));
        assert_eq!(spec.max_replicas_per_node, Some(2));
        assert_eq!(spec.update_config.parallelism, 2);
        assert_eq!(spec.update_config.failure_action, FailureAction::Rollback);
        assert_eq!(spec.update_config.order, UpdateOrder::StartFirst);
        assert_eq!(spec.constraints()[0].to_string(), "node.role!=manager");
        assert_eq!(spec.spread_preferences()[0].label, "zone");
        // And it survives a round trip through its own JSON.
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ServiceSpec>(&json).unwrap(), spec);
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        for (json, field) in [
            (r#"{"name": "web", "image": "nginx", "replica": 3}"#, "replica"),
            (
                r#"{"name": "web", "image": "nginx", "ports": [{"target": 80, "publish": 80}]}"#,
                "publish",
            ),
            (
                r#"{"name": "web", "image": "nginx", "update_config": {"paralellism": 2}}"#,
                "paralellism",
            ),
            (
                r#"{"name": "web", "image": "nginx", "rollback_config": {"x": 1}}"#,
                "`x`",
            ),
            (
                r#"{"name": "web", "image": "nginx", "resources": {"limits": {"gpus": 1}}}"#,
                "gpus",
            ),
            (
                r#"{"name": "web", "image": "nginx", "healthcheck": {"cmd": ["NONE"]}}"#,
                "cmd",
            ),
            (
                r#"{"name": "web", "image": "nginx", "restart_policy": {"when": "any"}}"#,
                "when",
            ),
            (
                r#"{"name": "web", "image": "nginx", "registry_auth": {"username": "u", "password": "p", "email": "e"}}"#,
                "email",
            ),
        ] {
            let error = serde_json::from_str::<ServiceSpec>(json).unwrap_err().to_string();
            assert!(
                error.contains("unknown field") && error.contains(field),
                "{json}: {error}"
            );
        }
    }

    #[test]
    fn swarm_defaults_fill_what_is_left_out() {
        let spec = minimal();
        spec.validate().unwrap();
        assert_eq!(spec.mode, Mode::Replicated);
        assert_eq!(spec.replica_count(), Some(1));
        assert_eq!(spec.entrypoint, None);
        assert_eq!(spec.command, None);
        assert_eq!(spec.pull_policy, PullPolicy::Missing);
        assert_eq!(
            spec.restart_policy,
            RestartPolicy {
                condition: RestartCondition::Any,
                delay: Duration::from_secs(5),
                max_attempts: 0,
                window: Duration::ZERO,
            }
        );
        assert_eq!(spec.stop_grace_period, Duration::from_secs(10));
        for config in [&spec.update_config, &spec.rollback_config] {
            assert_eq!(config.parallelism, 1);
            assert_eq!(config.delay, Duration::ZERO);
            assert_eq!(config.failure_action, FailureAction::Pause);
            assert_eq!(config.monitor, Duration::from_secs(5));
            assert_eq!(config.max_failure_ratio, 0.0);
            assert_eq!(config.order, UpdateOrder::StopFirst);
            assert_eq!(config.progress_deadline, Duration::from_secs(600));
        }
        // A partly given config keeps the defaults for the rest.
        let spec: ServiceSpec = serde_json::from_str(
            r#"{"name": "web", "image": "nginx", "update_config": {"order": "start-first"}}"#,
        )
        .unwrap();
        assert_eq!(spec.update_config.parallelism, 1);
        assert_eq!(spec.update_config.monitor, Duration::from_secs(5));
        let port: PortConfig = serde_json::from_str(r#"{"target": 80}"#).unwrap();
        assert_eq!((port.protocol, port.mode), (Protocol::Tcp, PublishMode::Ingress));
    }

    #[test]
    fn bad_durations_and_sizes_in_json_say_what_to_write() {
        let error =
            serde_json::from_str::<ServiceSpec>(r#"{"name": "w", "image": "i", "stop_grace_period": "5x"}"#)
                .unwrap_err()
                .to_string();
        assert!(error.contains("\"5x\" is not a duration"), "{error}");
        let error = serde_json::from_str::<ServiceSpec>(
            r#"{"name": "w", "image": "i", "resources": {"limits": {"memory": "lots"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("\"lots\" is not a size"), "{error}");
    }

    #[test]
    fn names_are_dns_labels() {
        for good in ["web", "a", "9lives", "web-2", &"a".repeat(63)] {
            accepted(|spec| spec.name = good.into());
        }
        refused(|spec| spec.name.clear(), "name", "needs a name");
        for bad in [
            "Web",
            "-web",
            "web-",
            "web_2",
            "web.example",
            "wéb",
            &"a".repeat(64),
        ] {
            refused(|spec| spec.name = bad.into(), "name", "DNS label");
        }
    }

    #[test]
    fn images_are_checked() {
        accepted(|spec| spec.image = "registry.local:5000/team/app@sha256:abc".into());
        refused(|spec| spec.image.clear(), "image", "required");
        refused(|spec| spec.image = "nginx latest".into(), "image", "spaces");
        refused(|spec| spec.image = "nginx\n".into(), "image", "spaces");
        accepted(|spec| spec.image = "i".repeat(255));
        refused(|spec| spec.image = "i".repeat(256), "image", "at most 255");
    }

    #[test]
    fn entrypoint_and_command_are_checked() {
        accepted(|spec| spec.entrypoint = Some(strings(&["/bin/app", "--flag"])));
        accepted(|spec| spec.command = Some(Vec::new()));
        accepted(|spec| spec.command = Some(vec![String::new(); 256]));
        refused(
            |spec| spec.entrypoint = Some(Vec::new()),
            "entrypoint",
            "nothing to run",
        );
        refused(
            |spec| spec.entrypoint = Some(strings(&["", "x"])),
            "entrypoint[0]",
            "cannot be empty",
        );
        refused(
            |spec| spec.entrypoint = Some(vec!["x".into(); 257]),
            "entrypoint",
            "at most 256",
        );
        refused(
            |spec| spec.command = Some(vec![String::new(); 257]),
            "command",
            "at most 256",
        );
        refused(
            |spec| spec.command = Some(vec!["ok".into(), "a".repeat(4097)]),
            "command[1]",
            "at most 4096",
        );
        accepted(|spec| spec.command = Some(vec!["a".repeat(4096)]));
        refused(
            |spec| spec.command = Some(strings(&["a\0b"])),
            "command[0]",
            "NUL",
        );
    }

    #[test]
    fn environment_is_checked() {
        let set = |key: &str, value: &str| {
            let (key, value) = (key.to_owned(), value.to_owned());
            move |spec: &mut ServiceSpec| {
                spec.environment.insert(key, value);
            }
        };
        accepted(set("EMPTY", ""));
        accepted(set("WITH_EQUALS", "a=b"));
        accepted(set("BIG", &"v".repeat(32768)));
        refused(set("", "x"), "environment", "needs a name");
        refused(set("A=B", "x"), "environment.A=B", "cannot contain '='");
        refused(set("A\0", "x"), "environment.A\0", "NUL");
        refused(set("NUL", "a\0"), "environment.NUL", "NUL");
        refused(
            set(&"K".repeat(257), "x"),
            &format!("environment.{}", "K".repeat(257)),
            "at most 256",
        );
        refused(set("BIG", &"v".repeat(32769)), "environment.BIG", "at most 32768");
        refused(
            |spec| spec.environment = (0..513).map(|n| (format!("V{n}"), String::new())).collect(),
            "environment",
            "at most 512",
        );
    }

    #[test]
    fn replicas_fit_the_mode() {
        accepted(|spec| spec.replicas = Some(0));
        accepted(|spec| spec.replicas = Some(10_000));
        refused(|spec| spec.replicas = Some(10_001), "replicas", "at most 10000");
        refused(
            |spec| spec.mode = Mode::Global,
            "replicas",
            "replicas applies to replicated services only",
        );
        accepted(|spec| {
            spec.mode = Mode::Global;
            spec.replicas = None;
        });
    }

    #[test]
    fn ports_are_checked() {
        let port = |target: u16, published: Option<u16>, protocol: Protocol, mode: PublishMode| PortConfig {
            target,
            published,
            protocol,
            mode,
        };
        accepted(|spec| {
            spec.ports
                .push(port(8080, Some(18080), Protocol::Udp, PublishMode::Ingress))
        });
        accepted(|spec| {
            spec.ports
                .push(port(9090, None, Protocol::Tcp, PublishMode::Ingress))
        });
        accepted(|spec| {
            spec.ports
                .push(port(9090, Some(19090), Protocol::Tcp, PublishMode::Host))
        });
        refused(|spec| spec.ports[0].target = 0, "ports[0].target", "1 to 65535");
        refused(
            |spec| spec.ports[0].published = Some(0),
            "ports[0].published",
            "1 to 65535",
        );
        refused(
            |spec| {
                spec.ports
                    .push(port(9090, None, Protocol::Tcp, PublishMode::Host))
            },
            "ports[1].published",
            "host-mode port needs a published port",
        );
        refused(
            |spec| {
                spec.ports
                    .push(port(9090, Some(18080), Protocol::Tcp, PublishMode::Host))
            },
            "ports[1].published",
            "18080/tcp is already published by ports[0]",
        );
        refused(
            |spec| {
                spec.ports = (1..=65)
                    .map(|n| port(n, None, Protocol::Tcp, PublishMode::Ingress))
                    .collect()
            },
            "ports",
            "at most 64",
        );
    }

    #[test]
    fn constraints_and_preferences_must_parse() {
        refused(
            |spec| spec.constraints.push("node.colour==red".into()),
            "constraints[1]",
            "unknown attribute \"node.colour\"",
        );
        refused(
            |spec| spec.constraints = vec!["node.labels.zone==a".into(); 33],
            "constraints",
            "at most 32",
        );
        accepted(|spec| spec.constraints = vec!["node.labels.zone==a".into(); 32]);
        refused(
            |spec| spec.preferences = strings(&["spread=node.labels.zone", "binpack"]),
            "preferences[1]",
            "spread=node.labels.<key>",
        );
        accepted(|spec| spec.max_replicas_per_node = Some(0));
    }

    #[test]
    fn the_placement_helpers_skip_what_does_not_parse() {
        let mut spec = example();
        spec.constraints = strings(&["node.role==worker", "bogus", "node.labels.zone!=a"]);
        spec.preferences = strings(&["nope", "spread=node.labels.rack"]);
        let constraints: Vec<String> = spec.constraints().iter().map(ToString::to_string).collect();
        assert_eq!(constraints, ["node.role==worker", "node.labels.zone!=a"]);
        assert_eq!(spec.spread_preferences(), [Preference { label: "rack".into() }]);
    }

    #[test]
    fn resources_are_checked() {
        accepted(|spec| {
            spec.resources.limits.cpus = Some(1.5);
            spec.resources.limits.memory = Some(ByteSize(6 << 20));
            spec.resources.reservations.cpus = Some(1.5);
            spec.resources.reservations.memory = Some(ByteSize(6 << 20));
        });
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            refused(
                |spec| spec.resources.limits.cpus = Some(bad),
                "resources.limits.cpus",
                "above 0",
            );
            refused(
                |spec| spec.resources.reservations.cpus = Some(bad),
                "resources.reservations.cpus",
                "above 0",
            );
        }
        refused(
            |spec| spec.resources.limits.memory = Some(ByteSize((6 << 20) - 1)),
            "resources.limits.memory",
            "at least 6M (Docker's minimum)",
        );
        refused(
            |spec| spec.resources.reservations.memory = Some(ByteSize(0)),
            "resources.reservations.memory",
            "at least 6M",
        );
        refused(
            |spec| {
                spec.resources.limits.cpus = Some(0.5);
                spec.resources.reservations.cpus = Some(1.0);
            },
            "resources.reservations.cpus",
            "the reservation (1) exceeds the limit (0.5)",
        );
        refused(
            |spec| {
                spec.resources.limits.memory = Some(ByteSize(64 << 20));
                spec.resources.reservations.memory = Some(ByteSize(1 << 30));
            },
            "resources.reservations.memory",
            "the reservation (1G) exceeds the limit (64M)",
        );
        // A reservation without a limit is fine, and the other way round.
        accepted(|spec| spec.resources.reservations.cpus = Some(4.0));
        accepted(|spec| spec.resources.limits.memory = Some(ByteSize(1 << 30)));
    }

    #[test]
    fn health_checks_are_checked() {
        let check = |test: &[&str]| HealthCheck {
            test: strings(test),
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            disable: false,
        };
        for good in [
            &[][..],
            &["CMD", "curl", "-f", "http://localhost/"],
            &["CMD", "/healthy"],
            &["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
            &["NONE"],
        ] {
            accepted(|spec| spec.healthcheck = Some(check(good)));
        }
        for (bad, field, message) in [
            (&["CMD"][..], "healthcheck.test", "CMD needs a program"),
            (&["CMD", ""], "healthcheck.test", "CMD needs a program"),
            (&["CMD-SHELL"], "healthcheck.test", "exactly one command string"),
            (
                &["CMD-SHELL", "a", "b"],
                "healthcheck.test",
                "exactly one command string",
            ),
            (&["NONE", "x"], "healthcheck.test", "no arguments"),
            (
                &["curl", "-f"],
                "healthcheck.test[0]",
                "unknown test type \"curl\": use CMD, CMD-SHELL or NONE",
            ),
            (&["cmd", "x"], "healthcheck.test[0]", "unknown test type"),
        ] {
            refused(|spec| spec.healthcheck = Some(check(bad)), field, message);
        }
        accepted(|spec| {
            spec.healthcheck = Some(HealthCheck {
                interval: Some(Duration::from_millis(1)),
                timeout: Some(Duration::from_secs(3)),
                start_period: Some(Duration::ZERO),
                retries: Some(3),
                ..check(&["CMD", "/healthy"])
            })
        });
        refused(
            |spec| {
                spec.healthcheck = Some(HealthCheck {
                    interval: Some(Duration::ZERO),
                    ..check(&[])
                })
            },
            "healthcheck.interval",
            "at least 1ms",
        );
        refused(
            |spec| {
                spec.healthcheck = Some(HealthCheck {
                    timeout: Some(Duration::ZERO),
                    ..check(&[])
                })
            },
            "healthcheck.timeout",
            "at least 1ms",
        );
        accepted(|spec| {
            spec.healthcheck = Some(HealthCheck {
                disable: true,
                ..check(&[])
            })
        });
        refused(
            |spec| {
                spec.healthcheck = Some(HealthCheck {
                    disable: true,
                    ..check(&["CMD", "/healthy"])
                })
            },
            "healthcheck.disable",
            "contradict",
        );
    }

    fn probe(kind: ProbeKind) -> Probe {
        Probe {
            kind,
            port: 8080,
            path: None,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            retries: 3,
            start_period: Duration::ZERO,
        }
    }

    fn http_probe(change: impl FnOnce(&mut Probe)) -> impl FnOnce(&mut ServiceSpec) {
        let mut probe = probe(ProbeKind::Http);
        change(&mut probe);
        move |spec| spec.probe = Some(probe)
    }

    #[test]
    fn a_probe_takes_defaults_and_refuses_unknown_fields() {
        let spec: ServiceSpec = serde_json::from_str(
            r#"{"name": "web", "image": "nginx", "ports": [{"target": 8080}],
                "probe": {"type": "http", "port": 8080}}"#,
        )
        .unwrap();
        spec.validate().unwrap();
        assert_eq!(spec.probe, Some(probe(ProbeKind::Http)));
        let error = serde_json::from_str::<ServiceSpec>(
            r#"{"name": "web", "image": "nginx", "probe": {"type": "tcp", "port": 80, "url": "/"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `url`"), "{error}");
    }

    #[test]
    fn a_probe_needs_one_of_the_services_tcp_ports() {
        accepted(|spec| spec.probe = Some(probe(ProbeKind::Tcp)));
        refused(
            http_probe(|probe| probe.port = 9090),
            "probe.port",
            "9090 is not a tcp port of the service: probe one of its ports' targets (8080)",
        );
        refused(
            |spec| {
                spec.ports.push(PortConfig {
                    target: 9090,
                    published: None,
                    protocol: Protocol::Udp,
                    mode: PublishMode::Ingress,
                });
                spec.probe = Some(Probe {
                    port: 9090,
                    ..probe(ProbeKind::Tcp)
                });
            },
            "probe.port",
            "targets (8080)",
        );
        refused(
            |spec| {
                spec.ports.clear();
                spec.probe = Some(probe(ProbeKind::Http));
            },
            "probe.port",
            "ports lists none",
        );
    }

    #[test]
    fn a_probe_path_is_an_http_path() {
        for good in ["/", "/health", "/health?deep=1", "/a%20b"] {
            accepted(http_probe(|probe| probe.path = Some(good.into())));
        }
        refused(
            http_probe(|probe| probe.path = Some("health".into())),
            "probe.path",
            "must start with '/'",
        );
        for bad in ["/a b", "/a\tb", "/health\r\n", "/\0", "/é"] {
            refused(
                http_probe(|probe| probe.path = Some(bad.into())),
                "probe.path",
                "percent-encode",
            );
        }
        refused(
            |spec| {
                spec.probe = Some(Probe {
                    path: Some("/".into()),
                    ..probe(ProbeKind::Tcp)
                })
            },
            "probe.path",
            "a tcp probe only opens a connection and has no path",
        );
    }

    #[test]
    fn probe_timings_are_bounded() {
        let millis = Duration::from_millis;
        let good: [fn(&mut Probe); 8] = [
            |probe| {
                probe.interval = Duration::from_millis(100);
                probe.timeout = Duration::from_millis(100);
            },
            |probe| {
                probe.interval = Duration::from_secs(3600);
                probe.timeout = Duration::from_secs(3600);
            },
            |probe| probe.timeout = Duration::from_millis(10),
            |probe| probe.timeout = probe.interval,
            |probe| probe.retries = 1,
            |probe| probe.retries = 100,
            |probe| probe.start_period = Duration::from_secs(3600),
            |probe| probe.start_period = Duration::ZERO,
        ];
        for change in good {
            accepted(http_probe(change));
        }
        refused(
            http_probe(|probe| {
                probe.interval = millis(99);
                probe.timeout = millis(10);
            }),
            "probe.interval",
            "from 100ms to 1h",
        );
        refused(
            http_probe(|probe| probe.interval = millis(3_600_001)),
            "probe.interval",
            "from 100ms to 1h",
        );
        refused(
            http_probe(|probe| probe.timeout = millis(9)),
            "probe.timeout",
            "at least 10ms",
        );
        refused(
            http_probe(|probe| probe.timeout = millis(2001)),
            "probe.timeout",
            "the timeout (2s1ms) cannot exceed the interval (2s)",
        );
        for retries in [0, 101] {
            refused(
                http_probe(|probe| probe.retries = retries),
                "probe.retries",
                "from 1 to 100",
            );
        }
        refused(
            http_probe(|probe| probe.start_period = millis(3_600_001)),
            "probe.start_period",
            "at most 1h",
        );
    }

    #[test]
    fn a_monitor_too_short_to_notice_a_failure_is_warned_about() {
        assert_eq!(example().warnings(), Vec::<String>::new());
        let mut spec = example();
        spec.probe = Some(probe(ProbeKind::Http));
        assert_eq!(
            spec.warnings(),
            [
                "update_config.monitor (5s) is shorter than the 6s the probe needs to notice a failing task \
                 (interval 2s × retries 3): raise monitor to at least 6s, or a broken version may count as \
                 updated",
                "rollback_config.monitor (5s) is shorter than the 6s the probe needs to notice a failing task \
                 (interval 2s × retries 3): raise monitor to at least 6s, or a broken version may count as \
                 updated",
            ]
        );
        spec.update_config.monitor = Duration::from_secs(6);
        let warnings = spec.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("rollback_config.monitor (5s)"),
            "{warnings:?}"
        );
        spec.rollback_config.monitor = Duration::from_secs(6);
        assert_eq!(spec.warnings(), Vec::<String>::new());
    }

    #[test]
    fn a_health_check_warns_with_dockers_defaults_for_what_it_leaves_out() {
        let check = |test: &[&str]| HealthCheck {
            test: strings(test),
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            disable: false,
        };
        let mut spec = minimal();
        spec.healthcheck = Some(check(&["CMD", "/healthy"]));
        let warnings = spec.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "update_config.monitor (5s) is shorter than the 1m30s the health check needs to notice a \
                 failing task (interval 30s × retries 3): raise monitor to at least 1m30s"
            ),
            "{warnings:?}"
        );
        spec.healthcheck = Some(HealthCheck {
            interval: Some(Duration::from_secs(2)),
            retries: Some(0),
            ..check(&["CMD-SHELL", "true"])
        });
        assert!(spec.warnings()[0].contains("the 6s the health check needs"));
        spec.healthcheck = Some(HealthCheck {
            interval: Some(Duration::from_secs(1)),
            retries: Some(5),
            ..check(&["CMD", "/healthy"])
        });
        assert_eq!(spec.warnings(), Vec::<String>::new());
        // Checks whose timings the spec does not know, or that do not run.
        for unknown in [check(&[]), check(&["NONE"])] {
            spec.healthcheck = Some(unknown);
            assert_eq!(spec.warnings(), Vec::<String>::new());
        }
        spec.healthcheck = Some(HealthCheck {
            disable: true,
            ..check(&[])
        });
        assert_eq!(spec.warnings(), Vec::<String>::new());
    }

    #[test]
    fn waits_are_bounded() {
        accepted(|spec| spec.stop_grace_period = Duration::from_secs(3600));
        refused(
            |spec| spec.stop_grace_period = Duration::from_secs(3601),
            "stop_grace_period",
            "at most 1h",
        );
        accepted(|spec| {
            spec.restart_policy = RestartPolicy {
                condition: RestartCondition::OnFailure,
                delay: Duration::ZERO,
                max_attempts: 3,
                window: Duration::from_secs(86_400),
            }
        });
    }

    #[test]
    fn a_spec_too_big_for_one_frame_share_is_refused_naming_the_cap() {
        accepted(|spec| {
            spec.environment
                .insert("CERT".into(), "x".repeat(SPEC_MAX_BYTES / 2));
        });
        refused(
            |spec| {
                for n in 0..2 {
                    spec.environment
                        .insert(format!("BLOB_{n}"), "x".repeat(ENV_VALUE_MAX));
                }
            },
            "spec",
            "48 KiB",
        );
    }

    #[test]
    fn registry_auth_needs_a_username() {
        let auth = |username: &str| RegistryAuth {
            username: username.into(),
            password: "secret".into(),
        };
        accepted(|spec| spec.registry_auth = Some(auth("ci")));
        refused(
            |spec| spec.registry_auth = Some(auth(" ")),
            "registry_auth.username",
            "username",
        );
    }

    #[test]
    fn update_and_rollback_configs_are_checked() {
        type Config = fn(&mut ServiceSpec) -> &mut UpdateConfig;
        let configs: [(&str, Config); 2] = [
            ("update_config", |spec| &mut spec.update_config),
            ("rollback_config", |spec| &mut spec.rollback_config),
        ];
        for (prefix, config) in configs {
            accepted(|spec| config(spec).max_failure_ratio = 1.0);
            accepted(|spec| config(spec).parallelism = 0);
            accepted(|spec| config(spec).progress_deadline = Duration::from_secs(1));
            accepted(|spec| config(spec).monitor = Duration::from_secs(3600));
            for bad in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
                refused(
                    |spec| config(spec).max_failure_ratio = bad,
                    &format!("{prefix}.max_failure_ratio"),
                    "from 0 to 1",
                );
            }
            refused(
                |spec| config(spec).monitor = Duration::from_secs(3601),
                &format!("{prefix}.monitor"),
                "at most 1h",
            );
            refused(
                |spec| config(spec).delay = Duration::from_secs(7200),
                &format!("{prefix}.delay"),
                "at most 1h",
            );
            refused(
                |spec| config(spec).progress_deadline = Duration::from_millis(999),
                &format!("{prefix}.progress_deadline"),
                "at least 1s",
            );
        }
        accepted(|spec| spec.update_config.failure_action = FailureAction::Rollback);
        accepted(|spec| spec.rollback_config.failure_action = FailureAction::Continue);
        refused(
            |spec| spec.rollback_config.failure_action = FailureAction::Rollback,
            "rollback_config.failure_action",
            "a rollback cannot roll back: use pause or continue",
        );
    }

    #[test]
    fn masking_hides_only_the_password() {
        let mut spec = example();
        assert_eq!(spec.masked(), spec);
        spec.registry_auth = Some(RegistryAuth {
            username: "ci".into(),
            password: "hunter2".into(),
        });
        let masked = spec.masked();
        let auth = masked.registry_auth.as_ref().unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("ci", MASKED_PASSWORD)
        );
        assert!(!serde_json::to_string(&masked).unwrap().contains("hunter2"));
        assert_eq!(spec.registry_auth.unwrap().password, "hunter2");
    }
}
