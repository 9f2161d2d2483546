//! Rollouts: a service moving from one revision to another batch by batch,
//! as the console and the API see it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{ServiceSpec, TaskState, UpdateConfig, UpdateOrder};
use crate::auth::Millis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    Updating,
    /// Stopped replacing tasks; the reason says why. Resumes on request.
    Paused,
    Completed,
    /// Going back to the revision the rollout started from.
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
    /// Ended without reaching its revision: aborted, past its progress
    /// deadline, or failed with `failure_action: continue` exhausted.
    Failed,
    /// A newer change to the service took over.
    Superseded,
}

impl RolloutState {
    pub const ALL: [RolloutState; 8] = [
        Self::Updating,
        Self::Paused,
        Self::Completed,
        Self::RollbackStarted,
        Self::RollbackPaused,
        Self::RollbackCompleted,
        Self::Failed,
        Self::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updating => "updating",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::RollbackStarted => "rollback_started",
            Self::RollbackPaused => "rollback_paused",
            Self::RollbackCompleted => "rollback_completed",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Still running or paused: at most one per service.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Updating | Self::Paused | Self::RollbackStarted | Self::RollbackPaused
        )
    }

    pub fn is_paused(self) -> bool {
        matches!(self, Self::Paused | Self::RollbackPaused)
    }

    pub fn is_rollback(self) -> bool {
        matches!(
            self,
            Self::RollbackStarted | Self::RollbackPaused | Self::RollbackCompleted
        )
    }
}

impl std::fmt::Display for RolloutState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: String,
    pub service_id: String,
    pub service_name: String,
    pub from_revision: u64,
    pub to_revision: u64,
    /// The revision an automatic or requested rollback created (equal to
    /// `from_revision`'s spec), once there is one.
    pub rollback_revision: Option<u64>,
    pub state: RolloutState,
    /// Why it paused, failed, rolled back or was superseded.
    pub reason: Option<String>,
    /// What started it: `api`, `console`, `rollback`, `webhook:<name>`.
    pub trigger: String,
    /// Who: a username, a token's name, a webhook, `system`.
    pub actor: String,
    /// Tasks to replace, replaced (running, healthy and through the monitor
    /// window) and failed.
    pub total: u64,
    pub updated: u64,
    pub failed: u64,
    pub parallelism: u64,
    pub order: UpdateOrder,
    pub started_at: Millis,
    /// When the current phase (updating, or rolling back) began; the
    /// progress deadline counts from here.
    pub phase_started_at: Millis,
    pub updated_at: Millis,
    pub ended_at: Option<Millis>,
}

impl Rollout {
    /// The revision whose update (or rollback) config drives the rollout:
    /// the one being replaced when rolling back, the one being rolled out
    /// otherwise. A requested rollback heads for its `rollback_revision`
    /// from `from_revision`; an automatic one turned back from
    /// `to_revision`.
    pub fn config_revision(&self) -> u64 {
        match self.rollback_revision {
            Some(revision) if revision == self.to_revision => self.from_revision,
            _ => self.to_revision,
        }
    }

    /// The settings the rollout runs with: the update config, or the
    /// rollback config while rolling back; `None` when `specs` lacks the
    /// revision they come from.
    pub fn config<'a>(&self, specs: &'a HashMap<u64, ServiceSpec>) -> Option<&'a UpdateConfig> {
        let spec = specs.get(&self.config_revision())?;
        Some(if self.state.is_rollback() {
            &spec.rollback_config
        } else {
            &spec.update_config
        })
    }

    /// The rollout with the settings it runs with filled in, as users see it.
    pub fn with_settings(mut self, specs: &HashMap<u64, ServiceSpec>) -> Self {
        if let Some(config) = self.config(specs) {
            self.parallelism = config.parallelism;
            self.order = config.order;
        }
        self
    }
}

/// One line of a rollout's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutEvent {
    pub at: Millis,
    pub message: String,
}

/// Where one slot (or, for global services, one node) stands in a rollout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotProgress {
    pub slot: Option<u64>,
    pub node_id: Option<String>,
    pub status: SlotStatus,
    pub old_task: Option<TaskBrief>,
    pub new_task: Option<TaskBrief>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    /// Still on the old revision.
    Waiting,
    /// In the batch being replaced.
    InFlight,
    Updated,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskBrief {
    pub id: String,
    pub revision: u64,
    pub state: TaskState,
    pub healthy: Option<bool>,
}

/// `GET /api/v1/rollouts/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutDetail {
    pub rollout: Rollout,
    pub timeline: Vec<RolloutEvent>,
    pub slots: Vec<SlotProgress>,
}

/// `POST /api/v1/services/{id}/rollback`: to a given revision, or to the one
/// before the current.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    #[serde(default)]
    pub revision: Option<u64>,
}
