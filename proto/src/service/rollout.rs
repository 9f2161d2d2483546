//! Rollouts: a service moving from one revision to another batch by batch,
//! as the console and the API see it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{ServiceSpec, TaskState, UpdateConfig, UpdateOrder};
use crate::Millis;

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

/// What can happen to a rollout: an operator's control, the updater's
/// verdict, or a newer change to its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutStep {
    /// An operator pauses it, or failures halt it.
    Pause,
    Resume,
    /// An operator stops it for good where it is.
    Abort,
    /// Every task runs the revision it heads for.
    Complete,
    /// It gives up: past its progress deadline, or failures with nowhere
    /// to go back to.
    Fail,
    /// Failures turn it around, back to the revision it started from.
    RollBack,
    /// A newer change to the service takes over.
    Supersede,
}

impl RolloutStep {
    fn past(self) -> &'static str {
        match self {
            Self::Pause => "paused",
            Self::Resume => "resumed",
            Self::Abort => "aborted",
            Self::Complete => "completed",
            Self::Fail => "failed",
            Self::RollBack => "rolled back",
            Self::Supersede => "superseded",
        }
    }
}

/// A step a rollout in its state cannot take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a rollout that is {from} cannot be {} now", step.past())]
pub struct NotAllowed {
    pub from: RolloutState,
    pub step: RolloutStep,
}

impl RolloutState {
    /// The one place that says where each step leads from each state; the
    /// API's controls, the orchestrator's verdicts and the store all ask.
    pub fn after(self, step: RolloutStep) -> Result<RolloutState, NotAllowed> {
        use RolloutState as S;
        use RolloutStep as Step;
        Ok(match (self, step) {
            (S::Updating, Step::Pause) => S::Paused,
            (S::RollbackStarted, Step::Pause) => S::RollbackPaused,
            (S::Paused, Step::Resume) => S::Updating,
            (S::RollbackPaused, Step::Resume) => S::RollbackStarted,
            (S::Updating, Step::Complete) => S::Completed,
            (S::RollbackStarted, Step::Complete) => S::RollbackCompleted,
            (S::Updating, Step::RollBack) => S::RollbackStarted,
            (from, Step::Abort | Step::Fail) if from.is_active() => S::Failed,
            (from, Step::Supersede) if from.is_active() => S::Superseded,
            (from, step) => return Err(NotAllowed { from, step }),
        })
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

/// Where a new rollout heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heading<'a> {
    /// Forward to a changed spec; `trigger` says what asked (`update`,
    /// `webhook`).
    Forward { trigger: &'a str },
    /// Back to the spec of an earlier revision, as a new revision.
    Back { to: u64 },
}

/// A rollout about to start: the service, the revision it leaves and who
/// starts it.
#[derive(Clone, Copy, Debug)]
pub struct RolloutStart<'a> {
    pub id: &'a str,
    pub service_id: &'a str,
    pub service_name: &'a str,
    /// The service's current revision; the rollout heads for the next one.
    pub from_revision: u64,
    pub actor: &'a str,
    pub now: Millis,
}

impl Rollout {
    /// A rollout starting now, with the first line of its timeline. Its
    /// settings are filled in from its revision when it is shown.
    pub fn begin(start: RolloutStart<'_>, heading: Heading<'_>) -> (Self, String) {
        let from = start.from_revision;
        let next = from + 1;
        let who = start.actor;
        let (state, rollback_revision, reason, trigger, event) = match heading {
            Heading::Forward { trigger } => (
                RolloutState::Updating,
                None,
                None,
                trigger,
                format!("rolling out revision {next} (from {from}), started by {who}"),
            ),
            Heading::Back { to } => (
                RolloutState::RollbackStarted,
                Some(next),
                Some(format!("rollback to revision {to} requested by {who}")),
                "rollback",
                format!(
                    "rolling back from revision {from} to revision {to} (as revision {next}), requested by {who}"
                ),
            ),
        };
        let rollout = Self {
            id: start.id.to_owned(),
            service_id: start.service_id.to_owned(),
            service_name: start.service_name.to_owned(),
            from_revision: from,
            to_revision: next,
            rollback_revision,
            state,
            reason,
            trigger: trigger.to_owned(),
            actor: who.to_owned(),
            total: 0,
            updated: 0,
            failed: 0,
            parallelism: 0,
            order: UpdateOrder::default(),
            started_at: start.now,
            phase_started_at: start.now,
            updated_at: start.now,
            ended_at: None,
        };
        (rollout, event)
    }

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

#[cfg(test)]
mod tests {
    use super::{RolloutState as S, RolloutStep as Step};

    #[test]
    fn pause_and_resume_keep_a_rollback_a_rollback() {
        assert_eq!(S::Updating.after(Step::Pause), Ok(S::Paused));
        assert_eq!(S::Paused.after(Step::Resume), Ok(S::Updating));
        assert_eq!(S::RollbackStarted.after(Step::Pause), Ok(S::RollbackPaused));
        assert_eq!(S::RollbackPaused.after(Step::Resume), Ok(S::RollbackStarted));
    }

    #[test]
    fn an_ended_rollout_takes_no_step() {
        let ended = S::ALL.into_iter().filter(|state| !state.is_active());
        for state in ended {
            for step in [
                Step::Pause,
                Step::Resume,
                Step::Abort,
                Step::Complete,
                Step::Fail,
                Step::RollBack,
                Step::Supersede,
            ] {
                assert!(state.after(step).is_err(), "{state} took {step:?}");
            }
        }
    }

    #[test]
    fn only_an_update_rolls_back_and_a_paused_one_cannot_complete() {
        assert_eq!(S::Updating.after(Step::RollBack), Ok(S::RollbackStarted));
        assert!(S::RollbackStarted.after(Step::RollBack).is_err());
        assert!(S::Paused.after(Step::Complete).is_err());
        assert_eq!(S::RollbackStarted.after(Step::Complete), Ok(S::RollbackCompleted));
    }

    #[test]
    fn every_active_rollout_can_be_aborted_or_superseded() {
        for state in S::ALL.into_iter().filter(|state| state.is_active()) {
            assert_eq!(state.after(Step::Abort), Ok(S::Failed));
            assert_eq!(state.after(Step::Supersede), Ok(S::Superseded));
        }
    }

    #[test]
    fn a_refusal_says_what_the_rollout_is() {
        let refusal = S::Completed.after(Step::Pause).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "a rollout that is completed cannot be paused now"
        );
    }
}
