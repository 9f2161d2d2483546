//! The service form's contents as typed: every number, duration and size is
//! kept as the text the user wrote, so nothing they typed is lost when it does
//! not parse. [`SpecDraft::to_spec`] reads it into a [`ServiceSpec`], naming
//! the field at fault with the same dotted paths as
//! [`ServiceSpec::validate`], so one error display serves both.

use std::{collections::BTreeMap, str::FromStr};

use shoal_proto::{
    FieldError,
    service::{
        ByteSize, Duration, FailureAction, HealthCheck, Mode, PortConfig, Probe, ProbeKind, Protocol,
        PublishMode, PullPolicy, RegistryAuth, ResourceRequirements, Resources, RestartCondition,
        RestartPolicy, ServiceSpec, UpdateConfig, UpdateOrder,
    },
};

use super::words::{join_words, split_words};

#[derive(Clone, Debug, PartialEq)]
pub struct SpecDraft {
    pub name: String,
    pub image: String,
    pub mode: Mode,
    pub replicas: String,
    pub ports: Vec<PortDraft>,
    pub environment: Vec<EnvDraft>,
    /// One per line.
    pub constraints: String,
    /// Network names, separated by spaces or commas.
    pub networks: String,
    /// Words as a shell splits them.
    pub command: String,
    pub entrypoint: String,
    /// One per line.
    pub preferences: String,
    pub max_replicas_per_node: String,
    pub limits: ResourcesDraft,
    pub reservations: ResourcesDraft,
    pub health: HealthDraft,
    pub probe: ProbeDraft,
    pub restart: RestartDraft,
    pub stop_grace_period: String,
    pub drain_timeout: String,
    pub pull_policy: PullPolicy,
    pub update_config: UpdateDraft,
    pub rollback_config: UpdateDraft,
    /// Not on the form: carried through so an edit keeps the stored
    /// credentials (the masked password means "unchanged").
    pub registry_auth: Option<RegistryAuth>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortDraft {
    pub target: String,
    pub published: String,
    pub protocol: Protocol,
    pub mode: PublishMode,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvDraft {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourcesDraft {
    pub cpus: String,
    pub memory: String,
}

/// Docker's health check test, as a choice rather than a `["CMD", …]` list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthKind {
    /// The image's own HEALTHCHECK, possibly with other timings.
    #[default]
    Image,
    /// `CMD`: a program and its arguments.
    Command,
    /// `CMD-SHELL`: a command line for `/bin/sh -c`.
    Shell,
    /// No health check, not even the image's.
    Off,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthDraft {
    pub kind: HealthKind,
    pub command: String,
    pub interval: String,
    pub timeout: String,
    pub retries: String,
    pub start_period: String,
}

/// Whether the agent probes the task, and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProbeType {
    #[default]
    Off,
    Http,
    Tcp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProbeDraft {
    pub kind: ProbeType,
    pub port: String,
    pub path: String,
    pub interval: String,
    pub timeout: String,
    pub retries: String,
    pub start_period: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RestartDraft {
    pub condition: RestartCondition,
    pub delay: String,
    pub max_attempts: String,
    pub window: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpdateDraft {
    pub parallelism: String,
    pub delay: String,
    pub failure_action: FailureAction,
    pub monitor: String,
    pub max_failure_ratio: String,
    pub order: UpdateOrder,
    pub progress_deadline: String,
}

impl SpecDraft {
    /// A new service: the server's defaults, one replica.
    pub fn new_service() -> Self {
        // Defaults come from the spec's own deserializer, so the form shows
        // exactly what the server would assume for a field left out.
        let blank: ServiceSpec = serde_json::from_str(r#"{"name": "", "image": ""}"#)
            .expect("a spec with only a name and an image is complete");
        Self {
            replicas: "1".to_owned(),
            ..Self::from_spec(&blank)
        }
    }

    pub fn from_spec(spec: &ServiceSpec) -> Self {
        Self {
            name: spec.name.clone(),
            image: spec.image.clone(),
            mode: spec.mode,
            replicas: text_of(spec.replicas),
            ports: spec.ports.iter().map(PortDraft::from_port).collect(),
            environment: spec
                .environment
                .iter()
                .map(|(key, value)| EnvDraft {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            constraints: spec.constraints.join("\n"),
            networks: spec.networks.join(" "),
            command: spec.command.as_deref().map(join_words).unwrap_or_default(),
            entrypoint: spec.entrypoint.as_deref().map(join_words).unwrap_or_default(),
            preferences: spec.preferences.join("\n"),
            max_replicas_per_node: text_of(spec.max_replicas_per_node),
            limits: ResourcesDraft::from_resources(&spec.resources.limits),
            reservations: ResourcesDraft::from_resources(&spec.resources.reservations),
            health: HealthDraft::from_check(spec.healthcheck.as_ref()),
            probe: ProbeDraft::from_probe(spec.probe.as_ref()),
            restart: RestartDraft::from_policy(&spec.restart_policy),
            stop_grace_period: spec.stop_grace_period.to_string(),
            drain_timeout: spec.drain_timeout.to_string(),
            pull_policy: spec.pull_policy,
            update_config: UpdateDraft::from_config(&spec.update_config),
            rollback_config: UpdateDraft::from_config(&spec.rollback_config),
            registry_auth: spec.registry_auth.clone(),
        }
    }

    /// The spec the draft describes, or the first field that does not parse.
    /// Whether the values make sense together is [`ServiceSpec::validate`]'s
    /// question.
    pub fn to_spec(&self) -> Result<ServiceSpec, FieldError> {
        Ok(ServiceSpec {
            name: self.name.trim().to_owned(),
            image: self.image.trim().to_owned(),
            entrypoint: words("entrypoint", &self.entrypoint)?,
            command: words("command", &self.command)?,
            environment: environment(&self.environment)?,
            mode: self.mode,
            replicas: match self.mode {
                Mode::Replicated => optional("replicas", &self.replicas, "a whole number of replicas")?,
                Mode::Global => None,
            },
            ports: ports(&self.ports)?,
            networks: self
                .networks
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
            constraints: lines(&self.constraints),
            preferences: lines(&self.preferences),
            max_replicas_per_node: optional(
                "max_replicas_per_node",
                &self.max_replicas_per_node,
                "a whole number; 0 or empty for no limit",
            )?,
            resources: ResourceRequirements {
                limits: self.limits.to_resources("resources.limits")?,
                reservations: self.reservations.to_resources("resources.reservations")?,
            },
            healthcheck: self.health.to_check()?,
            probe: self.probe.to_probe()?,
            restart_policy: self.restart.to_policy()?,
            stop_grace_period: required("stop_grace_period", &self.stop_grace_period, "a duration")?,
            drain_timeout: required("drain_timeout", &self.drain_timeout, "a duration")?,
            pull_policy: self.pull_policy,
            registry_auth: self.registry_auth.clone(),
            update_config: self.update_config.to_config("update_config")?,
            rollback_config: self.rollback_config.to_config("rollback_config")?,
        })
    }
}

impl PortDraft {
    fn from_port(port: &PortConfig) -> Self {
        Self {
            target: port.target.to_string(),
            published: text_of(port.published),
            protocol: port.protocol,
            mode: port.mode,
        }
    }

    fn is_blank(&self) -> bool {
        self.target.trim().is_empty() && self.published.trim().is_empty()
    }
}

impl ResourcesDraft {
    fn from_resources(resources: &Resources) -> Self {
        Self {
            cpus: text_of(resources.cpus),
            memory: text_of(resources.memory),
        }
    }

    fn to_resources(&self, path: &str) -> Result<Resources, FieldError> {
        Ok(Resources {
            cpus: optional(&format!("{path}.cpus"), &self.cpus, "a number of cores, e.g. 0.5")?,
            memory: optional(&format!("{path}.memory"), &self.memory, "a size")?,
        })
    }
}

impl HealthDraft {
    fn from_check(check: Option<&HealthCheck>) -> Self {
        let Some(check) = check else {
            return Self::default();
        };
        let (kind, command) = match check.test.split_first() {
            _ if check.disable => (HealthKind::Off, String::new()),
            Some((kind, args)) if kind == "CMD" => (HealthKind::Command, join_words(args)),
            Some((kind, args)) if kind == "CMD-SHELL" => (HealthKind::Shell, args.join(" ")),
            Some((kind, _)) if kind == "NONE" => (HealthKind::Off, String::new()),
            _ => (HealthKind::Image, String::new()),
        };
        Self {
            kind,
            command,
            interval: text_of(check.interval),
            timeout: text_of(check.timeout),
            retries: text_of(check.retries),
            start_period: text_of(check.start_period),
        }
    }

    fn to_check(&self) -> Result<Option<HealthCheck>, FieldError> {
        let test = match self.kind {
            HealthKind::Image | HealthKind::Off => Vec::new(),
            HealthKind::Command => {
                let mut test = vec!["CMD".to_owned()];
                test.extend(split_words(&self.command).map_err(|e| FieldError::new("healthcheck.test", e))?);
                test
            }
            HealthKind::Shell => vec!["CMD-SHELL".to_owned(), self.command.trim().to_owned()],
        };
        let check = HealthCheck {
            test,
            interval: optional("healthcheck.interval", &self.interval, "a duration")?,
            timeout: optional("healthcheck.timeout", &self.timeout, "a duration")?,
            retries: optional("healthcheck.retries", &self.retries, "a whole number")?,
            start_period: optional("healthcheck.start_period", &self.start_period, "a duration")?,
            disable: self.kind == HealthKind::Off,
        };
        let says_nothing = check.test.is_empty()
            && !check.disable
            && check.interval.is_none()
            && check.timeout.is_none()
            && check.retries.is_none()
            && check.start_period.is_none();
        Ok((!says_nothing).then_some(check))
    }
}

impl ProbeDraft {
    /// Without a probe, the timings are the defaults, ready for when one is
    /// turned on.
    fn from_probe(probe: Option<&Probe>) -> Self {
        let defaults: Probe = serde_json::from_str(r#"{"type": "tcp", "port": 0}"#)
            .expect("a probe with only a type and a port is complete");
        let (kind, probe) = match probe {
            None => (ProbeType::Off, &defaults),
            Some(
                probe @ Probe {
                    kind: ProbeKind::Http,
                    ..
                },
            ) => (ProbeType::Http, probe),
            Some(
                probe @ Probe {
                    kind: ProbeKind::Tcp, ..
                },
            ) => (ProbeType::Tcp, probe),
        };
        Self {
            kind,
            port: text_of((probe.port != 0).then_some(probe.port)),
            path: probe.path.clone().unwrap_or_default(),
            interval: probe.interval.to_string(),
            timeout: probe.timeout.to_string(),
            retries: probe.retries.to_string(),
            start_period: probe.start_period.to_string(),
        }
    }

    fn to_probe(&self) -> Result<Option<Probe>, FieldError> {
        let kind = match self.kind {
            ProbeType::Off => return Ok(None),
            ProbeType::Http => ProbeKind::Http,
            ProbeType::Tcp => ProbeKind::Tcp,
        };
        Ok(Some(Probe {
            kind,
            port: required(
                "probe.port",
                &self.port,
                "a port number, one of the ports' targets",
            )?,
            path: match self.path.trim() {
                "" => None,
                path => Some(path.to_owned()),
            },
            interval: required("probe.interval", &self.interval, "a duration")?,
            timeout: required("probe.timeout", &self.timeout, "a duration")?,
            retries: required("probe.retries", &self.retries, "a whole number")?,
            start_period: required("probe.start_period", &self.start_period, "a duration")?,
        }))
    }
}

impl RestartDraft {
    fn from_policy(policy: &RestartPolicy) -> Self {
        Self {
            condition: policy.condition,
            delay: policy.delay.to_string(),
            max_attempts: policy.max_attempts.to_string(),
            window: policy.window.to_string(),
        }
    }

    fn to_policy(&self) -> Result<RestartPolicy, FieldError> {
        Ok(RestartPolicy {
            condition: self.condition,
            delay: required("restart_policy.delay", &self.delay, "a duration")?,
            max_attempts: required(
                "restart_policy.max_attempts",
                &self.max_attempts,
                "a whole number; 0 for no limit",
            )?,
            window: required("restart_policy.window", &self.window, "a duration; 0s for ever")?,
        })
    }
}

impl UpdateDraft {
    fn from_config(config: &UpdateConfig) -> Self {
        Self {
            parallelism: config.parallelism.to_string(),
            delay: config.delay.to_string(),
            failure_action: config.failure_action,
            monitor: config.monitor.to_string(),
            max_failure_ratio: config.max_failure_ratio.to_string(),
            order: config.order,
            progress_deadline: config.progress_deadline.to_string(),
        }
    }

    fn to_config(&self, path: &str) -> Result<UpdateConfig, FieldError> {
        let field = |name: &str| format!("{path}.{name}");
        Ok(UpdateConfig {
            parallelism: required(
                &field("parallelism"),
                &self.parallelism,
                "a whole number; 0 for all at once",
            )?,
            delay: required(&field("delay"), &self.delay, "a duration")?,
            failure_action: self.failure_action,
            monitor: required(&field("monitor"), &self.monitor, "a duration")?,
            max_failure_ratio: required(
                &field("max_failure_ratio"),
                &self.max_failure_ratio,
                "a fraction from 0 to 1",
            )?,
            order: self.order,
            progress_deadline: required(&field("progress_deadline"), &self.progress_deadline, "a duration")?,
        })
    }
}

fn text_of(value: Option<impl ToString>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

/// Reads `text`; `expected` says what should have been written when the
/// type's own parser has no better words.
fn required<T: ParseText>(path: &str, text: &str, expected: &str) -> Result<T, FieldError> {
    T::parse_text(text.trim()).map_err(|reason| {
        let message = reason.unwrap_or_else(|| match text.trim() {
            "" => format!("required: {expected}"),
            typed => format!("{typed:?} is not {expected}"),
        });
        FieldError::new(path, message)
    })
}

/// Like [`required`], with an empty field meaning "not set".
fn optional<T: ParseText>(path: &str, text: &str, expected: &str) -> Result<Option<T>, FieldError> {
    match text.trim() {
        "" => Ok(None),
        _ => required(path, text, expected).map(Some),
    }
}

/// The parsers the form uses; durations and sizes explain themselves, plain
/// numbers get the field's own wording.
trait ParseText: Sized {
    fn parse_text(text: &str) -> Result<Self, Option<String>>;
}

macro_rules! parse_numbers {
    ($($number:ty),+) => {
        $(impl ParseText for $number {
            fn parse_text(text: &str) -> Result<Self, Option<String>> {
                text.parse().map_err(|_| None)
            }
        })+
    };
}
parse_numbers!(u16, u32, u64, f64);

impl ParseText for Duration {
    fn parse_text(text: &str) -> Result<Self, Option<String>> {
        Duration::from_str(text).map_err(Some)
    }
}

impl ParseText for ByteSize {
    fn parse_text(text: &str) -> Result<Self, Option<String>> {
        ByteSize::from_str(text).map_err(Some)
    }
}

fn words(path: &str, line: &str) -> Result<Option<Vec<String>>, FieldError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    split_words(line)
        .map(Some)
        .map_err(|message| FieldError::new(path, message))
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Rows left entirely blank are dropped: an "Add" clicked once too often is
/// not an error.
fn ports(rows: &[PortDraft]) -> Result<Vec<PortConfig>, FieldError> {
    rows.iter()
        .enumerate()
        .filter(|(_, row)| !row.is_blank())
        .enumerate()
        // Paths count the ports the spec will have, as validate() does.
        .map(|(i, (_, row))| {
            Ok(PortConfig {
                target: required(
                    &format!("ports[{i}].target"),
                    &row.target,
                    "a port number, 1 to 65535",
                )?,
                published: optional(
                    &format!("ports[{i}].published"),
                    &row.published,
                    "a port number, 1 to 65535",
                )?,
                protocol: row.protocol,
                mode: row.mode,
            })
        })
        .collect()
}

fn environment(rows: &[EnvDraft]) -> Result<BTreeMap<String, String>, FieldError> {
    let mut environment = BTreeMap::new();
    for row in rows {
        let key = row.key.trim();
        if key.is_empty() {
            if row.value.is_empty() {
                continue;
            }
            return Err(FieldError::new(
                "environment",
                format!("the value {:?} needs a variable name", row.value),
            ));
        }
        if environment.insert(key.to_owned(), row.value.clone()).is_some() {
            return Err(FieldError::new(format!("environment.{key}"), "is set twice"));
        }
    }
    Ok(environment)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"name": "web", "image": "shoal-demo:v1", "mode": "replicated", "replicas": 6,
        "entrypoint": ["/bin/app", "--config", "/etc/app config.toml"], "command": ["serve", "--port=8080"],
        "environment": {"GREETING": "hello world", "EMPTY": ""},
        "ports": [{"target": 8080, "published": 18080, "protocol": "tcp", "mode": "ingress"},
                  {"target": 53, "published": 5353, "protocol": "udp", "mode": "host"},
                  {"target": 9000}],
        "constraints": ["node.role!=manager", "node.labels.zone==a"], "preferences": ["spread=node.labels.zone"],
        "max_replicas_per_node": 2,
        "resources": {"limits": {"cpus": 1.5, "memory": "512M"}, "reservations": {"cpus": 0.25, "memory": "64M"}},
        "healthcheck": {"test": ["CMD", "/shoal-demo", "check"], "interval": "2s", "timeout": "1s",
                        "retries": 3, "start_period": "1m30s"},
        "probe": {"type": "http", "port": 8080, "path": "/health", "interval": "5s", "timeout": "2s",
                  "retries": 2, "start_period": "10s"},
        "restart_policy": {"condition": "on-failure", "delay": "1s", "max_attempts": 5, "window": "2m"},
        "stop_grace_period": "30s", "pull_policy": "always",
        "registry_auth": {"username": "ci", "password": "********"},
        "update_config": {"parallelism": 2, "delay": "10s", "failure_action": "rollback", "monitor": "5s",
                          "max_failure_ratio": 0.2, "order": "start-first", "progress_deadline": "5m"},
        "rollback_config": {"parallelism": 0, "failure_action": "continue"}}"#;

    fn spec(json: &str) -> ServiceSpec {
        serde_json::from_str(json).unwrap()
    }

    fn refusal(change: impl FnOnce(&mut SpecDraft)) -> FieldError {
        let mut draft = SpecDraft::from_spec(&spec(FULL));
        change(&mut draft);
        draft.to_spec().expect_err("the change should be refused")
    }

    #[test]
    fn a_spec_survives_the_form_unchanged() {
        for json in [
            FULL,
            r#"{"name": "web", "image": "nginx"}"#,
            r#"{"name": "agent", "image": "a", "mode": "global", "healthcheck": {"disable": true}}"#,
            r#"{"name": "s", "image": "a", "healthcheck": {"test": ["CMD-SHELL", "curl -f x || exit 1"]}}"#,
            r#"{"name": "t", "image": "a", "healthcheck": {"interval": "10s"}}"#,
            r#"{"name": "p", "image": "a", "ports": [{"target": 53}], "probe": {"type": "tcp", "port": 53}}"#,
        ] {
            let original = spec(json);
            assert_eq!(
                SpecDraft::from_spec(&original).to_spec().unwrap(),
                original,
                "{json}"
            );
        }
    }

    #[test]
    fn a_new_service_starts_from_the_servers_defaults() {
        let draft = SpecDraft::new_service();
        assert_eq!(draft.replicas, "1");
        assert_eq!(draft.stop_grace_period, "10s");
        assert_eq!(draft.update_config.parallelism, "1");
        assert_eq!(draft.update_config.monitor, "5s");
        assert_eq!(draft.restart.delay, "5s");
        assert_eq!(draft.health.kind, HealthKind::Image);
        assert_eq!(draft.probe.kind, ProbeType::Off);
        assert_eq!(
            (draft.probe.port.as_str(), draft.probe.interval.as_str()),
            ("", "2s")
        );
    }

    #[test]
    fn blank_rows_and_lines_are_dropped() {
        let mut draft = SpecDraft::from_spec(&spec(r#"{"name": "web", "image": "nginx"}"#));
        draft.ports = vec![
            PortDraft::default(),
            PortDraft {
                target: "80".into(),
                ..Default::default()
            },
        ];
        draft.environment = vec![EnvDraft::default()];
        draft.constraints = "\n  node.role==worker  \n\n".into();
        let spec = draft.to_spec().unwrap();
        assert_eq!(spec.ports.len(), 1);
        assert_eq!(spec.ports[0].target, 80);
        assert!(spec.environment.is_empty());
        assert_eq!(spec.constraints, ["node.role==worker"]);
    }

    #[test]
    fn a_global_service_sends_no_replica_count() {
        let mut draft = SpecDraft::new_service();
        draft.mode = Mode::Global;
        assert_eq!(draft.to_spec().unwrap().replicas, None);
    }

    #[test]
    fn unreadable_values_name_their_field() {
        let error = refusal(|d| d.ports[1].published = "53x".into());
        assert_eq!(error.field, "ports[1].published");
        assert!(error.message.contains("\"53x\" is not a port number"), "{error}");

        // A blank row before does not shift the numbering away from the spec's.
        let error = refusal(|d| {
            d.ports.insert(0, PortDraft::default());
            d.ports[2].target = String::new();
        });
        assert_eq!(error.field, "ports[1].target");
        assert!(error.message.starts_with("required"), "{error}");

        let error = refusal(|d| d.update_config.monitor = "5 parsecs".into());
        assert_eq!(error.field, "update_config.monitor");
        assert!(error.message.contains("is not a duration"), "{error}");

        let error = refusal(|d| d.reservations.memory = "lots".into());
        assert_eq!(error.field, "resources.reservations.memory");

        let error = refusal(|d| d.probe.port = String::new());
        assert_eq!(error.field, "probe.port");

        let error = refusal(|d| d.command = "echo 'unclosed".into());
        assert_eq!(error.field, "command");

        let error = refusal(|d| {
            d.environment.push(EnvDraft {
                key: " GREETING ".into(),
                value: "again".into(),
            })
        });
        assert_eq!(error.field, "environment.GREETING");

        let error = refusal(|d| {
            d.environment.push(EnvDraft {
                key: String::new(),
                value: "orphan".into(),
            })
        });
        assert_eq!(error.field, "environment");
    }
}
