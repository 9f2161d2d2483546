//! Tasks: one container for one slot of one revision of a service on one
//! node, and the states it moves through.

use serde::{Deserialize, Serialize};

use crate::auth::Millis;

/// States only move forward, in this order; the last five are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    New,
    /// Waiting for a node; the reason says why none fits.
    Pending,
    Assigned,
    Accepted,
    /// Pulling the image, creating the container.
    Preparing,
    Starting,
    Running,
    Complete,
    Failed,
    Shutdown,
    Rejected,
    Orphaned,
}

/// What the orchestrator wants of a task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    #[default]
    Running,
    Shutdown,
}

/// A task as the console and the API show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub service_id: String,
    pub service_name: String,
    /// Replicated services: the slot (1 to replicas). Global: `None`.
    pub slot: Option<u64>,
    pub node_id: Option<String>,
    pub revision: u64,
    pub desired_state: DesiredState,
    pub state: TaskState,
    /// Why the task reached its state ("started", "no suitable node: …").
    pub message: String,
    pub error: Option<String>,
    pub container_id: Option<String>,
    pub exit_code: Option<i64>,
    /// `None` when the container has no health check.
    pub healthy: Option<bool>,
    /// Host ports the container's ports are reachable on.
    pub ports: Vec<crate::wire::PortBinding>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One stored transition of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub state: TaskState,
    pub message: String,
    pub at: Millis,
}

/// `GET /api/v1/tasks` filters; all optional, ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFilter {
    /// A service id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskState>,
}
