use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use shoal_proto::{
    dashboard::{Capacity, ClusterEvent, Dashboard as Summary, FailingTask, NodeTally, ServiceBrief},
    event::Event,
    service::{HEALTH_KEYS, Rollout, RolloutState, health_key_label},
    status::ServerStatus,
};

use crate::{
    components::{live::live_changes, loaded::loaded},
    format::{gib, utc},
    pages::services::ServiceState,
    rpc::{get_dashboard, get_server_status},
    url,
};

/// The cluster at a glance, live: nodes by status, services by health,
/// rollouts in progress, tasks failing now and the latest cluster events.
/// Every change the event stream reports reloads the summary.
#[component]
pub fn Dashboard() -> impl IntoView {
    let (refreshes, set_refreshes) = signal(0u32);
    let status = Resource::new(move || refreshes.get(), |_| get_server_status());
    let changes = live_changes(|event| {
        matches!(
            event,
            Event::NodeJoined { .. }
                | Event::NodeStatus { .. }
                | Event::NodeUpdated { .. }
                | Event::NodeRemoved { .. }
                | Event::ServiceUpdated { .. }
                | Event::ServiceRemoved { .. }
                | Event::TaskUpdated { .. }
                | Event::RolloutUpdated { .. }
                | Event::ClusterEvent { .. }
        )
    });
    let summary = Resource::new(move || (refreshes.get(), changes.get()), |_| get_dashboard());

    view! {
        <Title text="Dashboard" />
        <section class="page dashboard">
            <div class="page-head">
                <h1>"Dashboard"</h1>
                <button
                    id="refresh-status"
                    class="button"
                    on:click=move |_| set_refreshes.update(|n| *n += 1)
                >
                    "Refresh"
                </button>
            </div>
            {loaded("Loading the cluster…", summary, |summary| view! { <ClusterSummary summary /> }.into_any())}
            <div class="cards">
                <article class="card" id="server-card">
                    <h2>"Server"</h2>
                    {loaded("Loading…", status, |status| view! { <StatusFacts status /> }.into_any())}
                    <p class="muted" id="refresh-count">
                        {move || match refreshes.get() {
                            0 => "Loaded with the page.".to_string(),
                            1 => "Refreshed once.".to_string(),
                            n => format!("Refreshed {n} times."),
                        }}
                    </p>
                </article>
            </div>
        </section>
    }
}

/// Everything but the server card, from one summary: plain data in, so no
/// resource is made under the summary's `Suspend`.
#[component]
fn ClusterSummary(summary: Summary) -> impl IntoView {
    let Summary {
        nodes,
        services,
        rollouts,
        failing,
        events,
    } = summary;
    let fresh = nodes.total.nodes == 0 && services.is_empty();
    view! {
        {fresh.then(|| view! {
            <article class="card getting-started" id="getting-started">
                <h2>"Getting started"</h2>
                <p>
                    "This cluster has no nodes and no services yet. Nodes join with "
                    <code>"shoal-agent join"</code>
                    " (the "<A href="/nodes">"Nodes"</A>" page shows the command); services are spread across the nodes that match their constraints."
                </p>
            </article>
        })}
        <div class="cards">
            <NodesCard nodes />
            <ServicesCard services />
        </div>
        <RolloutsPanel rollouts />
        <FailingPanel failing />
        <EventsPanel events />
    }
}

#[component]
fn NodesCard(nodes: NodeTally) -> impl IntoView {
    let row = |id: &'static str, label: &'static str, capacity: Capacity, query: &'static str| {
        let href = url::with_query("/nodes", &[("status", query)]);
        view! {
            <dt>
                {if query.is_empty() {
                    view! { <span>{label}</span> }.into_any()
                } else {
                    view! { <A href=href>{label}</A> }.into_any()
                }}
            </dt>
            <dd id=id>
                <strong class="count">{capacity.nodes}</strong>
                <span class="muted">{capacity_words(capacity)}</span>
            </dd>
        }
    };
    view! {
        <article class="card" id="dashboard-nodes">
            <h2><A href="/nodes">"Nodes"</A></h2>
            <dl class="facts tally">
                {row("nodes-ready", "Ready", nodes.ready, "ready")}
                {row("nodes-down", "Down", nodes.down, "down")}
                {(nodes.unknown.nodes > 0).then(|| row("nodes-unknown", "Unknown", nodes.unknown, "unknown"))}
                {row("nodes-drained", "Drained", nodes.drained, "")}
                {row("nodes-paused", "Paused", nodes.paused, "")}
                {row("nodes-total", "All nodes", nodes.total, "")}
            </dl>
            <p class="muted small">
                {format!(
                    "{} manager{}; drained and paused nodes take no new tasks.",
                    nodes.managers,
                    if nodes.managers == 1 { "" } else { "s" }
                )}
            </p>
        </article>
    }
}

/// `4 CPUs · 7.6 GiB`, or nothing for no node.
fn capacity_words(capacity: Capacity) -> String {
    if capacity.nodes == 0 {
        String::new()
    } else {
        format!(
            "{} CPU{} · {}",
            capacity.cpus,
            if capacity.cpus == 1 { "" } else { "s" },
            gib(capacity.memory_bytes)
        )
    }
}

#[component]
fn ServicesCard(services: Vec<ServiceBrief>) -> impl IntoView {
    let total = services.len();
    let counts = HEALTH_KEYS
        .iter()
        .map(|key| {
            let count = services.iter().filter(|s| s.health.key() == *key).count();
            let href = url::with_query("/services", &[("state", key)]);
            view! {
                <dt><A href=href>{health_key_label(key)}</A></dt>
                <dd id=format!("services-{key}") data-state=*key>
                    <strong class="count">{count}</strong>
                </dd>
            }
        })
        .collect_view();
    let attention: Vec<ServiceBrief> = services
        .into_iter()
        .filter(|service| service.health.needs_attention())
        .collect();
    let attention = (!attention.is_empty()).then(|| {
        let items = attention
            .into_iter()
            .map(|service| {
                let (name, key) = (service.name.clone(), service.health.key());
                view! {
                    <li data-service=service.name data-state=key>
                        <A href=format!("/services/{}", service.id)>{name}</A>
                        " "
                        <ServiceState health=service.health />
                    </li>
                }
            })
            .collect_view();
        view! {
            <h3 class="subhead">"Needs a look"</h3>
            <ul class="plain-list attention" id="services-attention">{items}</ul>
        }
    });
    view! {
        <article class="card" id="dashboard-services">
            <h2><A href="/services">"Services"</A></h2>
            <dl class="facts tally">
                {counts}
                <dt><A href="/services">"all services"</A></dt>
                <dd id="services-total"><strong class="count">{total}</strong></dd>
            </dl>
            {attention}
        </article>
    }
}

#[component]
fn RolloutsPanel(rollouts: Vec<Rollout>) -> impl IntoView {
    let body = if rollouts.is_empty() {
        view! { <p class="muted" id="rollouts-none">"No rollout is in progress."</p> }.into_any()
    } else {
        rollouts
            .into_iter()
            .map(|rollout| view! { <RolloutItem rollout /> })
            .collect_view()
            .into_any()
    };
    view! {
        <section class="panel" id="dashboard-rollouts" aria-labelledby="dashboard-rollouts-title">
            <h2 id="dashboard-rollouts-title">"Rollouts in progress"</h2>
            {body}
        </section>
    }
}

#[component]
fn RolloutItem(rollout: Rollout) -> impl IntoView {
    let (updated, total) = (rollout.updated, rollout.total);
    let percent = (updated.min(total) * 100).checked_div(total).unwrap_or(0);
    let state_words = match rollout.state {
        RolloutState::Updating => "updating",
        RolloutState::Paused => "paused",
        RolloutState::RollbackStarted => "rolling back",
        RolloutState::RollbackPaused => "rollback paused",
        other => other.as_str(),
    };
    let reason = rollout
        .state
        .is_paused()
        .then(|| rollout.reason.clone())
        .flatten();
    let href = format!("/services/{}", rollout.service_id);
    let label = format!("Rollout of {}", rollout.service_name);
    let name = rollout.service_name.clone();
    view! {
        <div class="dashboard-rollout" data-service=rollout.service_name.clone() data-state=rollout.state.as_str()>
            <div class="dashboard-rollout-head">
                <A href=href>{name}</A>
                " "
                <span class=format!("badge rollout-{}", rollout.state.as_str())>{state_words}</span>
                <span class="muted small">
                    {format!(
                        " revision {} → {} · started by {} at {}",
                        rollout.from_revision,
                        rollout.to_revision,
                        rollout.actor,
                        utc(rollout.started_at)
                    )}
                </span>
            </div>
            <div class="rollout-progress">
                <span
                    class="progress-bar"
                    role="progressbar"
                    aria-label=label
                    aria-valuemin="0"
                    aria-valuemax=total.to_string()
                    aria-valuenow=updated.to_string()
                >
                    <span class="progress-updated" style=format!("width: {percent}%")></span>
                </span>
                <span class="progress-words">
                    {format!("{updated} / {total} updated")}
                    {(rollout.failed > 0).then(|| format!(", {} failed", rollout.failed))}
                </span>
            </div>
            {reason.map(|reason| view! { <p class="rollout-reason">{reason}</p> })}
        </div>
    }
}

#[component]
fn FailingPanel(failing: Vec<FailingTask>) -> impl IntoView {
    let body = if failing.is_empty() {
        view! { <p class="muted" id="failing-none">"No task failed in the last 15 minutes."</p> }.into_any()
    } else {
        let items = failing
            .into_iter()
            .map(|task| {
                let place = match (task.slot, task.hostname.or(task.node_id)) {
                    (Some(slot), Some(node)) => format!("slot {slot} on {node}"),
                    (Some(slot), None) => format!("slot {slot}"),
                    (None, Some(node)) => format!("on {node}"),
                    (None, None) => String::new(),
                };
                let name = task.service_name.clone();
                view! {
                    <li data-service=task.service_name data-task=task.task_id>
                        <span class="time">{utc(task.at)}</span>
                        " "
                        <A href=format!("/services/{}", task.service_id)>{name}</A>
                        " "
                        <span class=format!("badge task-state state-{}", task.state.as_str())>{task.state.as_str()}</span>
                        <span class="muted small">{format!(" revision {} {place}", task.revision)}</span>
                        <div class="failing-reason">{task.reason}</div>
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="plain-list failing" id="failing-tasks">{items}</ul> }.into_any()
    };
    view! {
        <section class="panel" id="dashboard-failing" aria-labelledby="dashboard-failing-title">
            <h2 id="dashboard-failing-title">"Tasks failing now"</h2>
            {body}
        </section>
    }
}

#[component]
fn EventsPanel(events: Vec<ClusterEvent>) -> impl IntoView {
    let body = if events.is_empty() {
        view! {
            <p class="muted" id="events-none">
                "Nothing yet: nodes going down or coming back and rollouts starting or ending show here."
            </p>
        }
        .into_any()
    } else {
        let items = events
            .into_iter()
            .map(|event| {
                let href = event.href();
                let kind = event.kind.as_str();
                view! {
                    <li data-kind=kind>
                        <span class="time">{utc(event.at)}</span>
                        " "
                        <span class=format!("badge event-kind kind-{}", kind.replace('.', "-"))>{event.kind.word()}</span>
                        " "
                        <A href=href>{event.subject_name}</A>
                        <span class="event-message">{format!(": {}", event.message)}</span>
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="plain-list events" id="cluster-events">{items}</ul> }.into_any()
    };
    view! {
        <section class="panel" id="dashboard-events" aria-labelledby="dashboard-events-title">
            <h2 id="dashboard-events-title">"Latest cluster events"</h2>
            {body}
        </section>
    }
}

#[component]
fn StatusFacts(status: ServerStatus) -> impl IntoView {
    view! {
        <dl class="facts">
            <dt>"Version"</dt>
            <dd id="server-version">{status.version}</dd>
            <dt>"Cluster"</dt>
            <dd><code>{status.cluster_id}</code></dd>
            <dt>"Database"</dt>
            <dd>{status.database}</dd>
            <dt>"Up for"</dt>
            <dd id="server-uptime">{format_uptime(status.uptime_secs)}</dd>
        </dl>
    }
}

fn format_uptime(secs: u64) -> String {
    let (days, hours, minutes, seconds) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_shows_the_two_largest_units() {
        assert_eq!(format_uptime(42), "42s");
        assert_eq!(format_uptime(61), "1m 1s");
        assert_eq!(format_uptime(3 * 3600 + 120), "3h 2m");
        assert_eq!(format_uptime(2 * 86_400 + 5 * 3600), "2d 5h");
    }

    #[test]
    fn capacity_is_told_in_cpus_and_memory() {
        let capacity = Capacity {
            nodes: 2,
            cpus: 6,
            memory_bytes: 12 * 1024 * 1024 * 1024,
        };
        assert_eq!(capacity_words(capacity), "6 CPUs · 12.0 GiB");
        assert_eq!(capacity_words(Capacity::default()), "");
    }
}
