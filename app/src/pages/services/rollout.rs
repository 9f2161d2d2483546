//! A service's latest rollout, followed live: its state and why, how far it
//! got, the slots being replaced and what happened so far; and the way back
//! to an earlier revision.
//!
//! The panel reloads in two layers. The head (state, reason, the operator's
//! buttons) reloads only when the rollout changes state or a new one starts,
//! so an Abort waiting for its confirmation is not reset by every task
//! event; the progress under it reloads with every step.

use leptos::prelude::*;
use shoal_proto::service::{
    Rollout, RolloutDetail, RolloutEvent, RolloutState, SlotProgress, SlotStatus, TaskBrief, UpdateOrder,
};

use super::tasks::{TaskHealth, TaskStateBadge};
use crate::{
    components::{
        confirm::ConfirmButton,
        form_error::{FormError, failure},
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::utc,
    rpc::{AbortRollout, PauseRollout, ResumeRollout, RollbackService, get_newest_rollout},
};

/// The operator's levers on a running rollout.
#[derive(Clone, Copy)]
struct Levers {
    pause: ServerAction<PauseRollout>,
    resume: ServerAction<ResumeRollout>,
    abort: ServerAction<AbortRollout>,
}

/// The newest rollout of service `id` (or name), running or ended; nothing
/// for a service that never had one. `moved` ticks when a rollout starts or
/// changes state, `progressed` with each of its steps.
///
/// Both resources are made here, in the page's first render pass, and never
/// inside a `Suspend`: the server renders a suspended view more than once
/// (a dry run that registers its reads, then the real one), so a resource
/// made inside one is numbered differently on the server than in the
/// browser, which then hydrates the wrong data and fails.
#[component]
pub fn RolloutPanel(
    id: String,
    operator: bool,
    #[prop(into)] moved: Signal<u64>,
    #[prop(into)] progressed: Signal<u64>,
) -> impl IntoView {
    let levers = Levers {
        pause: ServerAction::new(),
        resume: ServerAction::new(),
        abort: ServerAction::new(),
    };
    let lever_moves =
        move || levers.pause.version().get() + levers.resume.version().get() + levers.abort.version().get();
    // The head reloads when a rollout starts or changes state, the progress
    // with every step; both ask for the same thing.
    let latest = {
        let id = id.clone();
        Resource::new(
            move || (moved.get(), lever_moves()),
            move |_| get_newest_rollout(id.clone()),
        )
    };
    let detail = Resource::new(
        move || (moved.get(), progressed.get(), lever_moves()),
        move |_| get_newest_rollout(id.clone()),
    );
    view! {
        {loaded("", latest, move |value| match value {
            Some(newest) => {
                view! { <RolloutHead rollout=newest.rollout operator levers detail /> }.into_any()
            }
            None => ().into_any(),
        })}
        <FormError message=failure(levers.pause.value()) id="rollout-pause-error" />
        <FormError message=failure(levers.resume.value()) id="rollout-resume-error" />
        <FormError message=failure(levers.abort.value()) id="rollout-abort-error" />
    }
}

type DetailResource = Resource<Result<Option<RolloutDetail>, ServerFnError>>;

#[component]
fn RolloutHead(rollout: Rollout, operator: bool, levers: Levers, detail: DetailResource) -> impl IntoView {
    let state = rollout.state;
    // A rollback is a new revision equal to an old one; the reason names it.
    let title = match rollout.rollback_revision {
        Some(revision) if revision == rollout.to_revision => format!("Rollback as revision {revision}"),
        Some(revision) => format!(
            "Rollout to revision {}, rolled back as revision {revision}",
            rollout.to_revision
        ),
        None => format!("Rollout to revision {}", rollout.to_revision),
    };
    let ended = rollout.ended_at.map(|at| format!(" · ended {}", utc(at)));
    let id = rollout.id;
    let levers =
        (operator && state.is_active()).then(|| view! { <RolloutLevers id=id.clone() state levers /> });
    view! {
        <section
            class="service-section rollout"
            class:active=state.is_active()
            id="service-rollout"
            data-rollout=id
            data-state=state.as_str()
        >
            <div class="rollout-head">
                <h2>{title}</h2>
                <RolloutStateBadge state />
                <span class="spacer"></span>
                {levers}
            </div>
            <p class="rollout-facts muted">
                {format!(
                    "from revision {} · {} at a time, {} · started by {} ({}) at {}",
                    rollout.from_revision,
                    rollout.parallelism,
                    order_name(rollout.order),
                    rollout.actor,
                    rollout.trigger,
                    utc(rollout.started_at),
                )}
                {ended}
            </p>
            {rollout.reason.map(|reason| view! { <p class="rollout-reason" id="rollout-reason">{reason}</p> })}
            <RolloutProgress detail />
        </section>
    }
}

fn order_name(order: UpdateOrder) -> &'static str {
    match order {
        UpdateOrder::StopFirst => "stop-first",
        UpdateOrder::StartFirst => "start-first",
    }
}

#[component]
fn RolloutStateBadge(state: RolloutState) -> impl IntoView {
    view! {
        <span class=format!("badge rollout-state rollout-{state}") id="rollout-state">
            {state.as_str()}
        </span>
    }
}

/// Pause or Resume, and Abort after a confirmation.
#[component]
fn RolloutLevers(id: String, state: RolloutState, levers: Levers) -> impl IntoView {
    let toggle = {
        let id = id.clone();
        if state.is_paused() {
            view! {
                <button
                    type="button"
                    class="button small secondary"
                    id="rollout-resume"
                    on:click=move |_| {
                        levers.resume.dispatch(ResumeRollout { id: id.clone() });
                    }
                >
                    "Resume"
                </button>
            }
            .into_any()
        } else {
            view! {
                <button
                    type="button"
                    class="button small secondary"
                    id="rollout-pause"
                    on:click=move |_| {
                        levers.pause.dispatch(PauseRollout { id: id.clone() });
                    }
                >
                    "Pause"
                </button>
            }
            .into_any()
        }
    };
    view! {
        <div class="rollout-levers">
            {toggle}
            <ConfirmButton
                label="Abort"
                question="Abort? Replaced tasks stay, the rest keep the old revision.".to_owned()
                class="rollout-abort"
                on_confirm=move || {
                    levers.abort.dispatch(AbortRollout { id: id.clone() });
                }
            />
        </div>
    }
}

/// The rollout's counts, slots and timeline, reloaded with every step.
#[component]
fn RolloutProgress(detail: DetailResource) -> impl IntoView {
    view! {
        {loaded("Loading the rollout…", detail, move |value| match value {
            Some(detail) => {
                let active = detail.rollout.state.is_active();
                view! {
                    <ProgressBar rollout=detail.rollout />
                    <InFlight slots=detail.slots.clone() />
                    <SlotTable slots=detail.slots />
                    <Timeline events=detail.timeline open=active />
                }
                    .into_any()
            }
            None => ().into_any(),
        })}
    }
}

/// Updated and failed tasks out of the total, as a bar and in words.
#[component]
fn ProgressBar(rollout: Rollout) -> impl IntoView {
    let Rollout {
        total,
        updated,
        failed,
        ..
    } = rollout;
    let width = |count: u64| {
        format!(
            "width: {}%",
            (count * 100).checked_div(total).unwrap_or(0).min(100)
        )
    };
    let failed_words = (failed > 0).then(|| format!(" · {failed} failed"));
    view! {
        <div class="rollout-progress">
            <div
                class="progress-bar"
                id="rollout-progress-bar"
                role="progressbar"
                aria-label="Tasks updated"
                aria-valuemin="0"
                aria-valuemax=total
                aria-valuenow=updated
            >
                <span class="progress-updated" style=width(updated)></span>
                <span class="progress-failed" style=width(failed)></span>
            </div>
            <span class="progress-words">
                <span id="rollout-progress">{format!("{updated} / {total} updated")}</span>
                {failed_words}
            </span>
        </div>
    }
}

/// `slot 2`, or for a global service the node it runs on.
fn slot_name(slot: &SlotProgress) -> String {
    match (&slot.slot, &slot.node_id) {
        (Some(slot), _) => format!("slot {slot}"),
        (None, Some(node)) => format!("node {}", node.chars().take(12).collect::<String>()),
        (None, None) => "—".to_owned(),
    }
}

/// The batch being replaced right now.
#[component]
fn InFlight(slots: Vec<SlotProgress>) -> impl IntoView {
    let names: Vec<String> = slots
        .iter()
        .filter(|slot| slot.status == SlotStatus::InFlight)
        .map(slot_name)
        .collect();
    (!names.is_empty()).then(|| {
        view! {
            <p class="rollout-batch" id="rollout-batch">
                "Replacing now: "
                <strong>{names.join(", ")}</strong>
            </p>
        }
    })
}

fn status_name(status: SlotStatus) -> &'static str {
    match status {
        SlotStatus::Waiting => "waiting",
        SlotStatus::InFlight => "in-flight",
        SlotStatus::Updated => "updated",
        SlotStatus::Failed => "failed",
    }
}

/// Each slot's old and new task; only a running rollout has slots.
#[component]
fn SlotTable(slots: Vec<SlotProgress>) -> impl IntoView {
    let rows = slots
        .into_iter()
        .map(|slot| {
            let name = slot_name(&slot);
            let status = status_name(slot.status);
            view! {
                <tr data-slot=name.clone() data-status=status>
                    <td class="strong">{name.clone()}</td>
                    <td><span class=format!("badge slot-status slot-{status}")>{status.replace('-', " ")}</span></td>
                    <td><TaskBriefCell task=slot.old_task /></td>
                    <td><TaskBriefCell task=slot.new_task /></td>
                </tr>
            }
            .into_any()
        })
        .collect::<Vec<_>>();
    (!rows.is_empty()).then(|| {
        view! { <DataTable id="rollout-slots" class="rollout-slots" columns=SLOT_COLUMNS rows /> }
    })
}

const SLOT_COLUMNS: &[Column] = &[
    Column::new("Slot"),
    Column::new("Status"),
    Column::new("Old task"),
    Column::new("New task"),
];

#[component]
fn TaskBriefCell(task: Option<TaskBrief>) -> impl IntoView {
    match task {
        Some(task) => view! {
            <span class="task-brief" title=task.id>
                <span class="revision-tag">{format!("r{}", task.revision)}</span>
                <TaskStateBadge state=task.state />
                <TaskHealth healthy=task.healthy />
            </span>
        }
        .into_any(),
        None => view! { <span class="muted">"—"</span> }.into_any(),
    }
}

/// What happened, oldest first; folded once the rollout is over.
#[component]
fn Timeline(events: Vec<RolloutEvent>, open: bool) -> impl IntoView {
    let count = events.len();
    let lines = events
        .into_iter()
        .map(|event| {
            view! {
                <li>
                    <span class="time">{utc(event.at)}</span>
                    <span>{event.message}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <details class="rollout-timeline" id="rollout-timeline" open=open>
            <summary>{format!("Timeline · {count}")}</summary>
            <ol>{lines}</ol>
        </details>
    }
}

/// An earlier revision's way back: a new revision equal to it, rolled out.
#[component]
pub fn RollbackButton(id: String, revision: u64) -> impl IntoView {
    let rollback = ServerAction::<RollbackService>::new();
    view! {
        <ConfirmButton
            label="Roll back to this revision"
            question=format!("Roll back to revision {revision}?")
            class="revision-rollback"
            on_confirm=move || {
                rollback.dispatch(RollbackService {
                    id: id.clone(),
                    revision: Some(revision),
                });
            }
        />
        <FormError message=failure(rollback.value()) />
    }
}
