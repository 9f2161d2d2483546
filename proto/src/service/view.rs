//! Services and revisions as the console and the REST API see them.

use serde::{Deserialize, Serialize};

use super::{FieldChange, ServiceSpec};
use crate::Millis;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    /// The current revision's number and spec.
    pub revision: u64,
    pub spec: ServiceSpec,
    /// Its virtual address, kept for its life: tasks on a network it shares
    /// reach it there, and by its name (`network::virtual_address`).
    #[serde(default)]
    pub address: Option<std::net::Ipv4Addr>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub tasks: TaskCounts,
    /// Settings that are allowed but probably not meant, such as a monitor
    /// window too short to notice a failing health check.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The rollout running or paused right now.
    #[serde(default)]
    pub rollout: Option<super::Rollout>,
    /// The newest rollout that ended (completed, rolled back, failed or
    /// superseded): whether the last deploy went through.
    #[serde(default)]
    pub last_rollout: Option<super::Rollout>,
    /// Why a task of the service waits for a node, while one does.
    #[serde(default)]
    pub pending_reason: Option<String>,
}

/// How a service's tasks are doing, for lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Replicas wanted; for global services, the eligible nodes.
    pub desired: u64,
    pub running: u64,
    /// Waiting for a node.
    pub pending: u64,
}

/// One immutable version of a service's spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub service_id: String,
    pub number: u64,
    pub spec: ServiceSpec,
    /// Who made the change: a username, a token's name, `system`.
    pub author: String,
    pub created_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevisionDiff {
    pub from: u64,
    pub to: u64,
    pub changes: Vec<FieldChange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub replicas: u64,
}
