//! The service spec. Field names follow the compose file where it has one,
//! flattened (`constraints` instead of `deploy.placement.constraints`), and
//! the meanings are Swarm's. Unknown fields are refused rather than ignored:
//! a typo must not silently drop a setting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::units::{ByteSize, Duration};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    pub image: String,
    /// Replaces the image's entrypoint (Swarm's `Command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's default command (Swarm's `Args`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub mode: Mode,
    /// Replicated services only; 1 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
    #[serde(default)]
    pub ports: Vec<PortConfig>,
    /// Networks the service joins, by name (compose's `networks`): services
    /// on a shared one reach each other by name on their target ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// `node.role!=manager`, `node.labels.zone==a`, …; all must hold.
    #[serde(default)]
    pub constraints: Vec<String>,
    /// `spread=node.labels.K`; earlier preferences weigh more.
    #[serde(default)]
    pub preferences: Vec<String>,
    /// 0 or left out: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u64>,
    #[serde(default)]
    pub resources: ResourceRequirements,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
    /// A probe the agent runs against the task, on top of the health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    #[serde(default = "default_stop_grace")]
    pub stop_grace_period: Duration,
    /// How long a task leaving the routing mesh may take to be withdrawn
    /// from every node's backends before it is stopped anyway.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: Duration,
    #[serde(default)]
    pub pull_policy: PullPolicy,
    /// Credentials for a private registry; the password is write-only and
    /// comes back masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_auth: Option<RegistryAuth>,
    #[serde(default)]
    pub update_config: UpdateConfig,
    #[serde(default)]
    pub rollback_config: UpdateConfig,
}

fn default_stop_grace() -> Duration {
    Duration::from_secs(10)
}

fn default_drain_timeout() -> Duration {
    Duration::from_secs(10)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Replicated,
    Global,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// The port inside the container.
    pub target: u16,
    /// The port on the nodes; left out, the container's port is reachable
    /// only through the ingress backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u16>,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default)]
    pub mode: PublishMode,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

/// `ingress`: every node forwards the published port to the service's tasks
/// (the routing mesh). `host`: only nodes running a task publish it, bound
/// directly to that task's container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    #[default]
    Ingress,
    Host,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRequirements {
    #[serde(default)]
    pub limits: Resources,
    /// What the scheduler sets aside on the node: a task is placed only
    /// where the reservations of the tasks already there leave room.
    #[serde(default)]
    pub reservations: Resources,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Cores, fractions allowed (`0.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// `64M`, `1G` or bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
}

/// Docker's health check, with compose's names. `test` is `["CMD", prog,
/// args…]`, `["CMD-SHELL", "command line"]` or `["NONE"]`; left out, the
/// image's own HEALTHCHECK applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    /// Turns off the image's health check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable: bool,
}

/// A health probe the agent runs from its node against one of the task's
/// container ports (through the port's host binding): an HTTP GET that must
/// answer 2xx or 3xx, or a TCP connection that must open. A task with a probe
/// is healthy only while both the probe and Docker's health check pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    #[serde(rename = "type")]
    pub kind: ProbeKind,
    /// A container port listed in `ports` (its `target`).
    pub port: u16,
    /// HTTP only; `/` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default = "default_probe_interval")]
    pub interval: Duration,
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// Failures in a row that make the task unhealthy.
    #[serde(default = "default_probe_retries")]
    pub retries: u32,
    /// Failures during this time after the start do not count.
    #[serde(default)]
    pub start_period: Duration,
}

fn default_probe_interval() -> Duration {
    Duration::from_secs(2)
}

fn default_probe_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_probe_retries() -> u32 {
    3
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Http,
    Tcp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    #[serde(default)]
    pub condition: RestartCondition,
    /// Wait between a task ending and its replacement starting.
    #[serde(default = "default_restart_delay")]
    pub delay: Duration,
    /// 0: no limit. Counted within `window` when one is set.
    #[serde(default)]
    pub max_attempts: u64,
    /// 0s: attempts count for ever.
    #[serde(default)]
    pub window: Duration,
}

fn default_restart_delay() -> Duration {
    Duration::from_secs(5)
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            condition: RestartCondition::Any,
            delay: default_restart_delay(),
            max_attempts: 0,
            window: Duration::ZERO,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    /// Replace a task however it ended.
    #[default]
    Any,
    /// Replace a task that failed (non-zero exit, unhealthy), not one that
    /// completed.
    OnFailure,
    /// Never replace an ended task.
    None,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Pull only when the node lacks the image.
    #[default]
    Missing,
    /// Pull before every task start, to pick up a moved tag.
    Always,
    /// Never pull; the image must be on the node.
    Never,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

/// Keeps the password out of logs.
impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How a rollout (or a rollback, with the rollback config) replaces tasks.
/// Defaults are Swarm's; `progress_deadline` is Shoal's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Tasks replaced at once; 0 replaces all at once.
    #[serde(default = "default_parallelism")]
    pub parallelism: u64,
    /// Wait between batches.
    #[serde(default)]
    pub delay: Duration,
    #[serde(default)]
    pub failure_action: FailureAction,
    /// How long a new task must stay running and healthy to count as updated.
    #[serde(default = "default_monitor")]
    pub monitor: Duration,
    /// Fraction (0 to 1) of tasks allowed to fail before the failure action.
    #[serde(default)]
    pub max_failure_ratio: f64,
    #[serde(default)]
    pub order: UpdateOrder,
    /// A rollout that has not finished by then fails with a reason.
    #[serde(default = "default_progress_deadline")]
    pub progress_deadline: Duration,
}

fn default_parallelism() -> u64 {
    1
}

fn default_monitor() -> Duration {
    Duration::from_secs(5)
}

fn default_progress_deadline() -> Duration {
    Duration::from_secs(600)
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            parallelism: default_parallelism(),
            delay: Duration::ZERO,
            failure_action: FailureAction::Pause,
            monitor: default_monitor(),
            max_failure_ratio: 0.0,
            order: UpdateOrder::StopFirst,
            progress_deadline: default_progress_deadline(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    #[default]
    Pause,
    Continue,
    /// Not allowed in a rollback config.
    Rollback,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    #[default]
    StopFirst,
    StartFirst,
}

impl ServiceSpec {
    /// How many tasks a replicated service wants; `None` for global ones.
    pub fn replica_count(&self) -> Option<u64> {
        match self.mode {
            Mode::Replicated => Some(self.replicas.unwrap_or(1)),
            Mode::Global => None,
        }
    }
}
