//! A service's tasks, grouped by the node they run on. Tasks no node could
//! take come first, with the scheduler's reason in plain sight: it is the
//! thing an operator has to act on.

use std::collections::BTreeMap;

use leptos::prelude::*;
use shoal_proto::{
    node::Node,
    service::{DesiredState, Task, TaskFilter, TaskState},
};

use super::plural;
use crate::{
    components::{
        filters::{FilterForm, FilterSelect, FilterText, matches_choice, matches_text},
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::utc,
    rpc::{list_nodes, list_tasks},
};

/// What the operator narrowed the task list to: a node's name, a state.
/// Kept in the page only; the list is short-lived and reloads with events.
#[derive(Clone, Copy)]
struct TaskFilters {
    node: RwSignal<String>,
    state: RwSignal<String>,
}

/// The tasks of one node, or of none yet.
#[derive(Debug, PartialEq)]
struct NodeGroup {
    /// `None`: the tasks waiting for a node.
    node_id: Option<String>,
    title: String,
    tasks: Vec<Task>,
}

/// Whether the task belongs to what the service runs now rather than to
/// its history (replaced, failed and stopped tasks).
fn is_current(task: &Task) -> bool {
    task.desired_state == DesiredState::Running || !task.state.is_terminal()
}

/// Current tasks by node: unplaced ones first, then nodes by hostname; in a
/// group by slot. A node that left the cluster is shown by its id.
fn group_by_node(tasks: Vec<Task>, hostnames: &BTreeMap<String, String>) -> Vec<NodeGroup> {
    let mut groups: Vec<NodeGroup> = Vec::new();
    for task in tasks {
        match groups.iter_mut().find(|group| group.node_id == task.node_id) {
            Some(group) => group.tasks.push(task),
            None => groups.push(NodeGroup {
                title: match &task.node_id {
                    None => "Not placed".to_owned(),
                    Some(id) => hostnames.get(id).unwrap_or(id).clone(),
                },
                node_id: task.node_id.clone(),
                tasks: vec![task],
            }),
        }
    }
    groups.sort_by(|a, b| (a.node_id.is_some(), &a.title).cmp(&(b.node_id.is_some(), &b.title)));
    for group in &mut groups {
        group.tasks.sort_by_key(|task| (task.slot, task.created_at));
    }
    groups
}

/// The tasks of service `id` (or name), reloaded whenever `changes` moves.
#[component]
pub fn TasksPanel(id: String, #[prop(into)] changes: Signal<u64>) -> impl IntoView {
    let tasks = Resource::new(
        move || changes.get(),
        move |_| {
            let filter = TaskFilter {
                service: Some(id.clone()),
                ..Default::default()
            };
            async move {
                let tasks = list_tasks(filter).await?;
                let nodes = list_nodes().await?;
                Ok::<_, ServerFnError>((tasks, nodes))
            }
        },
    );
    let filters = TaskFilters {
        node: RwSignal::new(String::new()),
        state: RwSignal::new(String::new()),
    };
    let states = TaskState::ALL
        .iter()
        .map(|state| (state.as_str(), state.as_str()))
        .collect();
    view! {
        <section class="service-section" id="service-tasks">
            <h2>"Tasks"</h2>
            <FilterForm id="tasks-filters" action="">
                <FilterText
                    id="tasks-node-filter"
                    name="node"
                    label="Node"
                    placeholder="hostname"
                    value=filters.node
                />
                <FilterSelect
                    id="tasks-state-filter"
                    name="state"
                    label="State"
                    any="any state"
                    options=states
                    value=filters.state
                />
            </FilterForm>
            {loaded("Loading tasks…", tasks, move |(tasks, nodes)| view! { <TaskGroups tasks nodes filters /> }.into_any())}
        </section>
    }
}

#[component]
fn TaskGroups(tasks: Vec<Task>, nodes: Vec<Node>, filters: TaskFilters) -> impl IntoView {
    let (current, mut ended): (Vec<Task>, Vec<Task>) = tasks.into_iter().partition(is_current);
    if current.is_empty() && ended.is_empty() {
        return view! { <p class="empty" id="tasks-empty">"No task yet."</p> }.into_any();
    }
    let running = current
        .iter()
        .filter(|task| task.state == TaskState::Running)
        .count();
    let hostnames = nodes.into_iter().map(|node| (node.id, node.hostname)).collect();
    let groups = group_by_node(current, &hostnames)
        .into_iter()
        .map(|group| view! { <TaskGroup group filters /> })
        .collect_view();
    ended.sort_by_key(|task| std::cmp::Reverse(task.updated_at));
    let history = (!ended.is_empty()).then(|| {
        let count = ended.len();
        let rows = ended
            .into_iter()
            .map(|task| view! { <TaskRow task filters /> }.into_any())
            .collect();
        view! {
            <details class="task-history">
                <summary>{format!("{count} ended task{}", plural(count as u64))}</summary>
                <TaskTable rows />
            </details>
        }
    });
    view! {
        <p class="muted" id="tasks-summary">{format!("{running} running")}</p>
        {groups}
        {history}
    }
    .into_any()
}

#[component]
fn TaskGroup(group: NodeGroup, filters: TaskFilters) -> impl IntoView {
    let placed = group.node_id.is_some();
    // Usually one reason for all of them ("no suitable node: …"); each is
    // shown once.
    let mut reasons: Vec<String> = group
        .tasks
        .iter()
        .filter(|task| task.state <= TaskState::Pending && !task.message.is_empty())
        .map(|task| task.message.clone())
        .collect();
    reasons.dedup();
    let reasons = (!placed && !reasons.is_empty()).then(|| {
        view! {
            <div class="pending-reasons" role="status">
                {reasons.into_iter().map(|reason| view! { <p class="pending-reason">{reason}</p> }).collect_view()}
            </div>
        }
    });
    let rows = group
        .tasks
        .into_iter()
        .map(|task| view! { <TaskRow task filters /> }.into_any())
        .collect();
    let title = group.title.clone();
    let elsewhere = move || !matches_text(&filters.node.get(), &[&title]);
    view! {
        <article
            class="task-group"
            class:unplaced=!placed
            data-node=group.node_id.unwrap_or_default()
            hidden=elsewhere
        >
            <h3>{group.title}</h3>
            {reasons}
            <TaskTable rows />
        </article>
    }
}

/// One table for every group and for the history: the same columns.
#[component]
fn TaskTable(rows: Vec<AnyView>) -> impl IntoView {
    view! { <DataTable class="tasks" columns=TASK_COLUMNS rows /> }
}

const TASK_COLUMNS: &[Column] = &[
    Column::new("Slot"),
    Column::new("State"),
    Column::new("Revision"),
    Column::new("Health"),
    Column::new("Message"),
    Column::new("Container"),
    Column::new("Updated"),
];

#[component]
fn TaskRow(task: Task, filters: TaskFilters) -> impl IntoView {
    let state = task.state.as_str();
    let other_state = move || !matches_choice(&filters.state.get(), state);
    let container = task.container_id.as_deref().map(|id| {
        let short: String = id.chars().take(12).collect();
        view! { <code title=id.to_owned()>{short}</code> }
    });
    view! {
        <tr data-task=task.id.clone() data-state=state hidden=other_state>
            <td class="strong">{task.slot.map_or_else(|| "—".to_owned(), |slot| slot.to_string())}</td>
            <td><TaskStateBadge state=task.state /></td>
            <td>{task.revision}</td>
            <td><TaskHealth healthy=task.healthy /></td>
            <td class="detail">
                {task.message.clone()}
                {task.error.clone().map(|error| view! { <span class="task-error">{error}</span> })}
            </td>
            <td>{container}</td>
            <td class="time">{utc(task.updated_at)}</td>
        </tr>
    }
}

#[component]
pub(super) fn TaskStateBadge(state: TaskState) -> impl IntoView {
    view! { <span class=format!("badge task-state state-{state}")>{state.as_str()}</span> }
}

/// `None`: the task has no health check.
#[component]
pub(super) fn TaskHealth(healthy: Option<bool>) -> impl IntoView {
    match healthy {
        Some(true) => view! { <span class="health healthy">"healthy"</span> }.into_any(),
        Some(false) => view! { <span class="health unhealthy">"unhealthy"</span> }.into_any(),
        None => view! { <span class="muted">"—"</span> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, slot: u64, node: Option<&str>, state: TaskState) -> Task {
        Task {
            id: id.into(),
            service_id: "s1".into(),
            service_name: "web".into(),
            slot: Some(slot),
            node_id: node.map(Into::into),
            revision: 1,
            desired_state: DesiredState::Running,
            state,
            message: String::new(),
            error: None,
            container_id: None,
            exit_code: None,
            healthy: None,
            ports: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn unplaced_tasks_come_first_then_nodes_by_hostname() {
        let hostnames = [("n1", "zeta"), ("n2", "alpha")]
            .map(|(id, hostname)| (id.to_owned(), hostname.to_owned()))
            .into();
        let tasks = vec![
            task("t3", 3, Some("n1"), TaskState::Running),
            task("t1", 1, Some("n2"), TaskState::Running),
            task("t4", 4, None, TaskState::Pending),
            task("t2", 2, Some("n1"), TaskState::Starting),
            task("t5", 5, Some("gone"), TaskState::Running),
        ];
        let groups = group_by_node(tasks, &hostnames);
        let summary: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|group| {
                let ids = group.tasks.iter().map(|task| task.id.as_str()).collect();
                (group.title.as_str(), ids)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("Not placed", vec!["t4"]),
                ("alpha", vec!["t1"]),
                ("gone", vec!["t5"]),
                ("zeta", vec!["t2", "t3"]),
            ]
        );
    }

    #[test]
    fn replaced_tasks_are_history() {
        let mut replaced = task("old", 1, Some("n1"), TaskState::Shutdown);
        replaced.desired_state = DesiredState::Shutdown;
        let mut stopping = task("stopping", 1, Some("n1"), TaskState::Running);
        stopping.desired_state = DesiredState::Shutdown;
        let failed_restarting = task("failed", 2, Some("n1"), TaskState::Failed);
        assert!(!is_current(&replaced));
        assert!(is_current(&stopping));
        assert!(is_current(&failed_restarting));
    }
}
