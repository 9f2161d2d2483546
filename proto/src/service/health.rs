//! How a service is doing, in one word and a reason: what lists and the
//! dashboard show. Decided here, once, from plain data.

use serde::{Deserialize, Serialize};

use super::{Rollout, RolloutState, Service, TaskCounts};

/// One service's state, most pressing first: a rollout in progress or
/// paused says more than the task counts, and missing tasks say more than
/// how the last rollout ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServiceHealth {
    /// A rollout (or a rollback) is replacing tasks.
    Updating {
        updated: u64,
        total: u64,
        rolling_back: bool,
    },
    /// A rollout stopped and waits for an operator.
    Paused { reason: String },
    /// Tasks wait for a node; the reason says why none fits.
    Pending { reason: String, pending: u64 },
    /// Fewer tasks run than wanted, and none is waiting for a node.
    Degraded { running: u64, desired: u64 },
    /// Runs as wanted, but its last rollout went back to the old revision.
    RolledBack { reason: String },
    /// Runs as wanted, but its last rollout failed (aborted, past its
    /// deadline) and may have left a mix of revisions.
    Failed { reason: String },
    /// Every wanted task runs.
    Running { running: u64 },
}

/// The states a filter can pick, in the order lists offer them.
pub const HEALTH_KEYS: [&str; 7] = [
    "running",
    "updating",
    "paused",
    "pending",
    "degraded",
    "rolled_back",
    "failed",
];

impl ServiceHealth {
    /// Decides a service's state from its task counts, its active rollout,
    /// its newest ended rollout and why a pending task waits.
    pub fn classify(
        tasks: TaskCounts,
        active: Option<&Rollout>,
        last_ended: Option<&Rollout>,
        pending_reason: Option<&str>,
    ) -> Self {
        if let Some(rollout) = active.filter(|r| r.state.is_active()) {
            return if rollout.state.is_paused() {
                Self::Paused {
                    reason: rollout
                        .reason
                        .clone()
                        .unwrap_or_else(|| "paused by request".to_owned()),
                }
            } else {
                Self::Updating {
                    updated: rollout.updated,
                    total: rollout.total,
                    rolling_back: rollout.state.is_rollback(),
                }
            };
        }
        if tasks.running < tasks.desired {
            return if tasks.pending > 0 {
                Self::Pending {
                    reason: pending_reason
                        .filter(|reason| !reason.is_empty())
                        .unwrap_or("waiting for a node")
                        .to_owned(),
                    pending: tasks.pending,
                }
            } else {
                Self::Degraded {
                    running: tasks.running,
                    desired: tasks.desired,
                }
            };
        }
        let reason = |rollout: &Rollout| rollout.reason.clone().unwrap_or_default();
        match last_ended {
            Some(rollout) if rollout.state == RolloutState::RollbackCompleted => Self::RolledBack {
                reason: reason(rollout),
            },
            Some(rollout) if rollout.state == RolloutState::Failed => Self::Failed {
                reason: reason(rollout),
            },
            _ => Self::Running {
                running: tasks.running,
            },
        }
    }

    /// What a filter names it by: one of [`HEALTH_KEYS`].
    pub fn key(&self) -> &'static str {
        match self {
            Self::Running { .. } => "running",
            Self::Updating { .. } => "updating",
            Self::Paused { .. } => "paused",
            Self::Pending { .. } => "pending",
            Self::Degraded { .. } => "degraded",
            Self::RolledBack { .. } => "rolled_back",
            Self::Failed { .. } => "failed",
        }
    }

    /// The words a list shows: `updating 1/3`, `rolling back 2/3`, `paused`,
    /// `pending`, `degraded 1/3`, `rolled back`, `rollout failed`, `running`.
    pub fn label(&self) -> String {
        match self {
            Self::Updating {
                updated,
                total,
                rolling_back: false,
            } => format!("updating {updated}/{total}"),
            Self::Updating {
                updated,
                total,
                rolling_back: true,
            } => format!("rolling back {updated}/{total}"),
            Self::Paused { .. } => "paused".to_owned(),
            Self::Pending { .. } => "pending".to_owned(),
            Self::Degraded { running, desired } => format!("degraded {running}/{desired}"),
            Self::RolledBack { .. } => "rolled back".to_owned(),
            Self::Failed { .. } => "rollout failed".to_owned(),
            Self::Running { .. } => "running".to_owned(),
        }
    }

    /// Why, when there is something to explain.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Paused { reason }
            | Self::Pending { reason, .. }
            | Self::RolledBack { reason }
            | Self::Failed { reason } => Some(reason.as_str()).filter(|reason| !reason.is_empty()),
            _ => None,
        }
    }

    /// Whether someone should look at it.
    pub fn needs_attention(&self) -> bool {
        !matches!(self, Self::Running { .. } | Self::Updating { .. })
    }
}

/// The words a filter's choice shows for a [`ServiceHealth::key`].
pub fn health_key_label(key: &str) -> &'static str {
    match key {
        "running" => "running",
        "updating" => "updating",
        "paused" => "paused",
        "pending" => "pending",
        "degraded" => "degraded",
        "rolled_back" => "rolled back",
        "failed" => "rollout failed",
        _ => "any state",
    }
}

impl Service {
    pub fn health(&self) -> ServiceHealth {
        ServiceHealth::classify(
            self.tasks,
            self.rollout.as_ref(),
            self.last_rollout.as_ref(),
            self.pending_reason.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::UpdateOrder;

    fn counts(desired: u64, running: u64, pending: u64) -> TaskCounts {
        TaskCounts {
            desired,
            running,
            pending,
        }
    }

    fn rollout(state: RolloutState, reason: Option<&str>, updated: u64, total: u64) -> Rollout {
        Rollout {
            id: "r1".into(),
            service_id: "s1".into(),
            service_name: "web".into(),
            from_revision: 1,
            to_revision: 2,
            rollback_revision: None,
            state,
            reason: reason.map(str::to_owned),
            trigger: "update".into(),
            actor: "ada".into(),
            total,
            updated,
            failed: 0,
            parallelism: 1,
            order: UpdateOrder::StopFirst,
            started_at: 1,
            phase_started_at: 1,
            updated_at: 1,
            ended_at: None,
        }
    }

    #[test]
    fn a_service_with_every_task_running_is_running() {
        let health = ServiceHealth::classify(counts(3, 3, 0), None, None, None);
        assert_eq!(health, ServiceHealth::Running { running: 3 });
        assert_eq!(health.label(), "running");
        assert!(!health.needs_attention());
    }

    #[test]
    fn a_rollout_in_progress_shows_its_progress() {
        let active = rollout(RolloutState::Updating, None, 1, 3);
        let health = ServiceHealth::classify(counts(3, 2, 0), Some(&active), None, None);
        assert_eq!(health.label(), "updating 1/3");
        assert_eq!(health.key(), "updating");
    }

    #[test]
    fn a_rollback_in_progress_says_it_is_rolling_back() {
        let active = rollout(RolloutState::RollbackStarted, Some("health check failed"), 2, 3);
        let health = ServiceHealth::classify(counts(3, 3, 0), Some(&active), None, None);
        assert_eq!(health.label(), "rolling back 2/3");
        assert_eq!(health.key(), "updating");
    }

    #[test]
    fn a_paused_rollout_gives_its_reason_even_when_tasks_are_missing() {
        let active = rollout(RolloutState::Paused, Some("task failed: exit 1"), 1, 3);
        let health = ServiceHealth::classify(counts(3, 1, 1), Some(&active), None, Some("no node"));
        assert_eq!(
            health,
            ServiceHealth::Paused {
                reason: "task failed: exit 1".into()
            }
        );
        assert_eq!(health.reason(), Some("task failed: exit 1"));
    }

    #[test]
    fn tasks_waiting_for_a_node_make_it_pending_with_their_reason() {
        let reason = "no suitable node: constraint node.role!=manager matched 0 of 3 ready nodes";
        let health = ServiceHealth::classify(counts(3, 1, 2), None, None, Some(reason));
        assert_eq!(health.label(), "pending");
        assert_eq!(health.reason(), Some(reason));
    }

    #[test]
    fn fewer_running_than_desired_with_none_pending_is_degraded() {
        let health = ServiceHealth::classify(counts(3, 1, 0), None, None, None);
        assert_eq!(health.label(), "degraded 1/3");
        assert!(health.needs_attention());
    }

    #[test]
    fn missing_tasks_outrank_how_the_last_rollout_ended() {
        let ended = rollout(RolloutState::RollbackCompleted, Some("health"), 0, 3);
        let health = ServiceHealth::classify(counts(3, 2, 0), None, Some(&ended), None);
        assert_eq!(health.key(), "degraded");
    }

    #[test]
    fn a_service_whose_last_rollout_rolled_back_says_so_with_the_reason() {
        let ended = rollout(RolloutState::RollbackCompleted, Some("2 of 3 tasks failed"), 3, 3);
        let health = ServiceHealth::classify(counts(3, 3, 0), None, Some(&ended), None);
        assert_eq!(health.label(), "rolled back");
        assert_eq!(health.reason(), Some("2 of 3 tasks failed"));
    }

    #[test]
    fn a_failed_last_rollout_is_shown_until_the_next_one() {
        let ended = rollout(RolloutState::Failed, Some("aborted by ada"), 1, 3);
        let health = ServiceHealth::classify(counts(3, 3, 0), None, Some(&ended), None);
        assert_eq!(health.label(), "rollout failed");
        let completed = rollout(RolloutState::Completed, None, 3, 3);
        let health = ServiceHealth::classify(counts(3, 3, 0), None, Some(&completed), None);
        assert_eq!(health.label(), "running");
    }

    #[test]
    fn every_state_has_a_filter_key_and_words() {
        for key in HEALTH_KEYS {
            assert_ne!(health_key_label(key), "any state", "{key}");
        }
    }

    #[test]
    fn the_state_travels_as_json_with_its_name() {
        let health = ServiceHealth::Pending {
            reason: "no node".into(),
            pending: 2,
        };
        let json = serde_json::to_string(&health).unwrap();
        assert_eq!(json, r#"{"state":"pending","reason":"no node","pending":2}"#);
        assert_eq!(serde_json::from_str::<ServiceHealth>(&json).unwrap(), health);
    }
}
