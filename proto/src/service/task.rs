//! Tasks: one container for one slot of one revision of a service on one
//! node, and the states it moves through.

use serde::{Deserialize, Serialize};

use crate::Millis;

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

impl TaskState {
    pub const ALL: [TaskState; 12] = [
        Self::New,
        Self::Pending,
        Self::Assigned,
        Self::Accepted,
        Self::Preparing,
        Self::Starting,
        Self::Running,
        Self::Complete,
        Self::Failed,
        Self::Shutdown,
        Self::Rejected,
        Self::Orphaned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Pending => "pending",
            Self::Assigned => "assigned",
            Self::Accepted => "accepted",
            Self::Preparing => "preparing",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Shutdown => "shutdown",
            Self::Rejected => "rejected",
            Self::Orphaned => "orphaned",
        }
    }

    /// Whether the task has ended for good: no container runs for it.
    pub fn is_terminal(self) -> bool {
        self >= Self::Complete
    }

    /// States move forward only, and an ended task stays ended; a report of
    /// the same state may still carry news (health, ports).
    pub fn can_become(self, next: TaskState) -> bool {
        if self.is_terminal() {
            return false;
        }
        next >= self
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskState {
    type Err = crate::FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|state| state.as_str()).collect();
                crate::FieldError::new(
                    "state",
                    format!("unknown task state {s:?}: use {}", known.join(", ")),
                )
            })
    }
}

impl DesiredState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Shutdown => "shutdown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Shutdown]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_only_move_forward_and_endings_are_final() {
        assert!(TaskState::Assigned.can_become(TaskState::Running));
        assert!(TaskState::Running.can_become(TaskState::Running));
        assert!(TaskState::Running.can_become(TaskState::Failed));
        assert!(!TaskState::Running.can_become(TaskState::Starting));
        assert!(!TaskState::Failed.can_become(TaskState::Shutdown));
        assert!(!TaskState::Complete.can_become(TaskState::Complete));
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>().unwrap(), state);
        }
        assert!(
            "sleeping"
                .parse::<TaskState>()
                .unwrap_err()
                .message
                .contains("running")
        );
    }
}

/// `GET /api/v1/tasks/{id}`: a task with its transitions, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDetail {
    pub task: Task,
    pub events: Vec<TaskEvent>,
}
