//! The rolling updater's decisions, from plain data: which slots to replace
//! next, which old tasks to retire, what failed, and whether the rollout is
//! done, paused, rolling back or past its deadline. Progress is derived
//! from the tasks every time, never from counters, so a server restarted in
//! the middle of a rollout simply carries on.
//!
//! Batches: up to `parallelism` slots at a time (0: all). A slot is updated
//! once its new task has been running and healthy for the `monitor` window;
//! the next batch starts `delay` after the last slot of the previous one was
//! updated. stop-first stops the old task and starts the new one when it has
//! stopped; start-first starts the new task and retires the old one once the
//! new one is ready.

use std::collections::HashSet;

use shoal_proto::{
    Millis,
    service::{FailureAction, Rollout, RolloutState, RolloutStep, SlotStatus, TaskState, UpdateConfig},
};

use super::slots::{Key, Slot};
use crate::store::TaskRecord;

pub struct Input<'a> {
    pub rollout: &'a Rollout,
    pub config: &'a UpdateConfig,
    pub slots: &'a [Slot<'a>],
    /// Tasks already counted as failures of this rollout.
    pub failures: &'a HashSet<String>,
    pub now: Millis,
}

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Completed,
    Pause(String),
    Rollback(String),
    Fail(String),
}

impl Outcome {
    /// The step the rollout's state machine takes on this verdict.
    pub fn step(&self) -> RolloutStep {
        match self {
            Self::Completed => RolloutStep::Complete,
            Self::Pause(_) => RolloutStep::Pause,
            Self::Rollback(_) => RolloutStep::RollBack,
            Self::Fail(_) => RolloutStep::Fail,
        }
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// Slots whose replacement starts now.
    pub start: Vec<Key>,
    /// Old tasks whose replacement is ready (start-first).
    pub retire: Vec<String>,
    /// Newly failed tasks, with what the timeline says about them.
    pub new_failures: Vec<(String, String)>,
    /// Slots updated since the last look are not tracked: the timeline
    /// gets batches and endings, the counts tell the rest.
    pub total: u64,
    pub updated: u64,
    pub failed: u64,
    pub outcome: Option<Outcome>,
    pub wake_at: Option<Millis>,
    /// A line for the timeline when a batch starts.
    pub batch_event: Option<String>,
}

fn millis(duration: shoal_proto::service::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Whether a task of the target spec counts against the rollout: it ended,
/// or it was unhealthy before it got through its monitor window.
fn failure_of(record: &TaskRecord, rollout: &Rollout) -> Option<String> {
    let task = &record.task;
    if task.created_at < rollout.phase_started_at
        || task.desired_state != shoal_proto::service::DesiredState::Running
    {
        return None;
    }
    match task.state {
        TaskState::Failed | TaskState::Rejected | TaskState::Complete => Some(format!(
            "task {} (slot {}) {}: {}",
            short(&task.id),
            slot_name(record),
            task.state,
            task.error.as_deref().unwrap_or(&task.message)
        )),
        _ if record.ever_unhealthy => Some(format!(
            "task {} (slot {}) turned unhealthy: {}",
            short(&task.id),
            slot_name(record),
            task.message
        )),
        _ => None,
    }
}

pub fn slot_status(slot: &Slot, input: &Input) -> SlotStatus {
    let monitor = millis(input.config.monitor);
    let failed = |record: &TaskRecord| {
        input.failures.contains(&record.task.id) || failure_of(record, input.rollout).is_some()
    };
    match (slot.clean, slot.dirty.is_empty()) {
        (Some(clean), _) if failed(clean) => SlotStatus::Failed,
        (Some(clean), true)
            if clean
                .ready_since
                .is_some_and(|since| input.now - since >= monitor) =>
        {
            SlotStatus::Updated
        }
        (Some(_), _) => SlotStatus::InFlight,
        (None, false) => SlotStatus::Waiting,
        (None, true) => match slot.history.first() {
            Some(newest) if failed(newest) => SlotStatus::Failed,
            _ => SlotStatus::InFlight,
        },
    }
}

pub fn decide(input: &Input) -> Decision {
    let mut decision = Decision::default();
    let rollout = input.rollout;
    let config = input.config;
    let statuses: Vec<SlotStatus> = input.slots.iter().map(|slot| slot_status(slot, input)).collect();

    let mut failures: HashSet<&str> = input.failures.iter().map(String::as_str).collect();
    for slot in input.slots {
        for record in &slot.history {
            if failures.contains(record.task.id.as_str()) {
                continue;
            }
            if let Some(message) = failure_of(record, rollout) {
                failures.insert(&record.task.id);
                decision.new_failures.push((record.task.id.clone(), message));
            }
        }
    }
    decision.total = input.slots.len() as u64;
    decision.updated = statuses.iter().filter(|s| **s == SlotStatus::Updated).count() as u64;
    decision.failed = failures.len() as u64;

    // start-first: an old task goes once its replacement is ready.
    for slot in input.slots {
        if slot.clean.is_some_and(|clean| clean.ready_since.is_some()) {
            decision
                .retire
                .extend(slot.dirty.iter().map(|r| r.task.id.clone()));
        }
    }

    if !rollout.state.is_active() || rollout.state.is_paused() {
        return decision;
    }
    let rolling_back = rollout.state == RolloutState::RollbackStarted;
    let total = decision.total.max(1) as f64;
    if decision.failed > 0 && decision.failed as f64 / total > config.max_failure_ratio {
        let why = format!(
            "{} of {} tasks failed, more than max_failure_ratio {} allows; last: {}",
            decision.failed,
            decision.total,
            config.max_failure_ratio,
            decision
                .new_failures
                .last()
                .map(|(_, message)| message.clone())
                .unwrap_or_else(|| "see the timeline".into())
        );
        match (config.failure_action, rolling_back) {
            (FailureAction::Continue, _) => {}
            (FailureAction::Rollback, false) => {
                decision.outcome = Some(Outcome::Rollback(why));
                return decision;
            }
            (FailureAction::Pause | FailureAction::Rollback, _) => {
                decision.outcome = Some(Outcome::Pause(why));
                return decision;
            }
        }
    }
    if statuses.iter().all(|s| *s == SlotStatus::Updated) {
        decision.outcome = Some(Outcome::Completed);
        return decision;
    }
    let deadline = rollout
        .phase_started_at
        .saturating_add(millis(config.progress_deadline));
    if input.now >= deadline {
        let stuck = input
            .slots
            .iter()
            .zip(&statuses)
            .find(|(_, status)| matches!(status, SlotStatus::InFlight | SlotStatus::Failed))
            .and_then(|(slot, _)| slot.clean.or(slot.history.first().copied()))
            .map(|record| {
                format!(
                    "; waiting for task {} (slot {}): {}",
                    short(&record.task.id),
                    slot_name(record),
                    record.task.message
                )
            })
            .unwrap_or_default();
        let why = format!(
            "not finished within the progress deadline of {}: {} of {} tasks updated{stuck}",
            config.progress_deadline, decision.updated, decision.total
        );
        decision.outcome = Some(match (config.failure_action, rolling_back) {
            (FailureAction::Rollback, false) => Outcome::Rollback(why),
            _ => Outcome::Fail(why),
        });
        return decision;
    }
    decision.wake_at = Some(deadline);

    let in_flight = statuses.iter().filter(|s| **s == SlotStatus::InFlight).count();
    if in_flight > 0 {
        // The monitor window of an in-flight task runs out without an event.
        let monitor = millis(config.monitor);
        for slot in input.slots {
            if let Some(since) = slot.clean.and_then(|c| c.ready_since) {
                wake(&mut decision, since + monitor);
            }
        }
        return decision;
    }
    // The batch before ended when its last slot got through its monitor window.
    let monitor = millis(config.monitor);
    let last_done = input
        .slots
        .iter()
        .zip(&statuses)
        .filter(|(_, status)| **status == SlotStatus::Updated)
        .filter_map(|(slot, _)| slot.clean.and_then(|c| c.ready_since))
        .filter(|since| *since >= rollout.phase_started_at)
        .map(|since| since + monitor)
        .max();
    if let Some(done) = last_done {
        let next = done.saturating_add(millis(config.delay));
        if input.now < next {
            wake(&mut decision, next);
            return decision;
        }
    }
    let size = match config.parallelism {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    decision.start = input
        .slots
        .iter()
        .zip(&statuses)
        .filter(|(_, status)| **status == SlotStatus::Waiting)
        .take(size)
        .map(|(slot, _)| slot.key.clone())
        .collect();
    if !decision.start.is_empty() {
        let names: Vec<String> = decision.start.iter().map(key_name).collect();
        decision.batch_event = Some(format!(
            "replacing {} {} ({})",
            names.len(),
            if names.len() == 1 { "task" } else { "tasks" },
            names.join(", ")
        ));
    }
    decision
}

fn wake(decision: &mut Decision, at: Millis) {
    decision.wake_at = Some(decision.wake_at.map_or(at, |w| w.min(at)));
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn slot_name(record: &TaskRecord) -> String {
    match (record.task.slot, &record.task.node_id) {
        (Some(slot), _) => slot.to_string(),
        (None, Some(node)) => format!("node {}", short(node)),
        (None, None) => "?".into(),
    }
}

pub fn key_name(key: &Key) -> String {
    match key {
        Key::Slot(slot) => format!("slot {slot}"),
        Key::Node(node) => format!("node {}", short(node)),
    }
}
