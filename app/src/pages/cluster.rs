//! The whole cluster at a glance: each node a column of the tasks it runs,
//! coloured by service, following the event stream. A service in the middle
//! of a rollout shows two revisions side by side, the old ones dashed.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use shoal_proto::{
    node::Node,
    service::{DesiredState, Service, Task, TaskFilter, TaskState},
};

use crate::{
    components::{live::live_changes, loaded::loaded},
    rpc::{list_nodes, list_services, list_tasks},
};

/// One node's column, or the column of tasks no node runs.
#[derive(Debug, PartialEq)]
struct Column {
    /// `None` for tasks not placed yet, or placed on a node that left.
    node: Option<Node>,
    tasks: Vec<Task>,
}

/// Whether the task is meant to run and has not ended: what the cluster
/// runs now, leaving out tasks being stopped and history.
fn is_live(task: &Task) -> bool {
    task.desired_state == DesiredState::Running && !task.state.is_terminal()
}

/// Nodes by hostname, each with its live tasks by service and slot; the
/// tasks without a known node come last, in a column of their own.
fn columns(mut nodes: Vec<Node>, tasks: Vec<Task>) -> Vec<Column> {
    nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    let mut columns: Vec<Column> = nodes
        .into_iter()
        .map(|node| Column {
            node: Some(node),
            tasks: Vec::new(),
        })
        .collect();
    let mut homeless = Vec::new();
    for task in tasks.into_iter().filter(is_live) {
        let column = columns.iter_mut().find(|column| {
            column
                .node
                .as_ref()
                .is_some_and(|node| task.node_id.as_deref() == Some(node.id.as_str()))
        });
        match column {
            Some(column) => column.tasks.push(task),
            None => homeless.push(task),
        }
    }
    if !homeless.is_empty() {
        columns.push(Column {
            node: None,
            tasks: homeless,
        });
    }
    for column in &mut columns {
        column
            .tasks
            .sort_by(|a, b| (&a.service_name, a.slot).cmp(&(&b.service_name, b.slot)));
    }
    columns
}

/// A hue (0–359) that is the same for a service on every page and every
/// load: FNV-1a of its id, which survives a rename.
fn service_hue(service_id: &str) -> u32 {
    let hash = service_id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % 360
}

/// For each service with a rollout running or paused, the revision it moves
/// to: tasks on any other revision are still to be replaced.
fn rollout_targets(services: &[Service]) -> HashMap<String, u64> {
    services
        .iter()
        .filter(|service| service.rollout.is_some())
        .map(|service| (service.id.clone(), service.revision))
        .collect()
}

#[component]
pub fn ClusterPage() -> impl IntoView {
    // Every kind of event moves something here: nodes, tasks, rollouts.
    let changes = live_changes(|_| true);
    let cluster = Resource::new(
        move || changes.get(),
        |_| async move {
            let nodes = list_nodes().await?;
            let tasks = list_tasks(TaskFilter::default()).await?;
            let services = list_services().await?;
            Ok::<_, ServerFnError>((nodes, tasks, services))
        },
    );
    view! {
        <Title text="Cluster" />
        <section class="page wide cluster-page">
            <div class="page-head">
                <h1>"Cluster"</h1>
            </div>
            {loaded("Loading the cluster…", cluster, move |value| match value {
                (nodes, _, _) if nodes.is_empty() => view! {
                    <p class="empty" id="cluster-empty">"No node has joined yet."</p>
                }
                    .into_any(),
                (nodes, tasks, services) => view! {
                    <RolloutsUnderway services=services.clone() />
                    <ClusterColumns columns=columns(nodes, tasks) targets=rollout_targets(&services) />
                }
                    .into_any(),
            })}
        </section>
    }
}

/// The services being rolled out, each in its colour with how far it got.
#[component]
fn RolloutsUnderway(services: Vec<Service>) -> impl IntoView {
    let items: Vec<_> = services
        .into_iter()
        .filter_map(|service| {
            let rollout = service.rollout?;
            Some(view! {
                <li style=format!("--hue: {}", service_hue(&service.id))>
                    <A href=format!("/services/{}", service.id)>{service.name}</A>
                    {format!(
                        " {} → r{} · {} / {} updated",
                        rollout.state,
                        service.revision,
                        rollout.updated,
                        rollout.total,
                    )}
                </li>
            })
        })
        .collect();
    (!items.is_empty()).then(|| view! { <ul class="cluster-rollouts" id="cluster-rollouts">{items}</ul> })
}

#[component]
fn ClusterColumns(columns: Vec<Column>, targets: HashMap<String, u64>) -> impl IntoView {
    let columns = columns
        .into_iter()
        .map(|column| view! { <NodeColumn column targets=targets.clone() /> })
        .collect_view();
    view! { <div class="cluster-columns">{columns}</div> }
}

#[component]
fn NodeColumn(column: Column, targets: HashMap<String, u64>) -> impl IntoView {
    let head = match &column.node {
        Some(node) => {
            let status = node.status.as_str();
            view! {
                <h2>{node.hostname.clone()}</h2>
                <p class="node-column-facts">
                    <span class=format!("badge node-status status-{status}")>{status}</span>
                    <span class="badge">{node.role.as_str()}</span>
                </p>
            }
            .into_any()
        }
        None => view! { <h2>"Not on a node"</h2> }.into_any(),
    };
    let boxes = column
        .tasks
        .into_iter()
        .map(|task| {
            let outdated = targets
                .get(&task.service_id)
                .is_some_and(|target| *target != task.revision);
            view! { <TaskBox task outdated /> }
        })
        .collect_view();
    view! {
        <article
            class="node-column"
            class:homeless=column.node.is_none()
            data-node=column.node.map(|node| node.hostname).unwrap_or_default()
        >
            {head}
            <div class="task-boxes">{boxes}</div>
        </article>
    }
}

/// A task as a small box in its service's colour: the service, the slot,
/// the revision, and the state when it is not simply running.
#[component]
fn TaskBox(task: Task, outdated: bool) -> impl IntoView {
    let slot = task.slot.map(|slot| format!("#{slot}"));
    let state = (task.state != TaskState::Running).then(|| task.state.as_str());
    view! {
        <div
            class="task-box"
            class:outdated=outdated
            style=format!("--hue: {}", service_hue(&task.service_id))
            data-service=task.service_name.clone()
            data-revision=task.revision
            data-state=task.state.as_str()
            title=format!("{} · {}", task.id, task.state)
        >
            <span class="task-box-service">{task.service_name.clone()}</span>
            <span class="task-box-facts">
                {slot}
                <span class="revision-tag">{format!("r{}", task.revision)}</span>
                {state.map(|state| view! { <span class="task-box-state">{state}</span> })}
            </span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use shoal_proto::node::{NodeRole, NodeStatus};

    use super::*;

    fn node(id: &str, hostname: &str) -> Node {
        serde_json::from_value(serde_json::json!({
            "id": id, "hostname": hostname, "role": NodeRole::Worker, "availability": "active",
            "labels": {}, "status": NodeStatus::Ready, "address": "10.0.0.1",
            "platform": {"os": "linux", "arch": "amd64"}, "resources": {"cpus": 2, "memory_bytes": 1024},
            "engine_version": "27.0", "agent_version": "0.1.0", "last_heartbeat_at": null, "joined_at": 1
        }))
        .unwrap()
    }

    fn task(id: &str, service: &str, slot: u64, node: Option<&str>) -> Task {
        Task {
            id: id.into(),
            service_id: format!("id-{service}"),
            service_name: service.into(),
            slot: Some(slot),
            node_id: node.map(Into::into),
            revision: 1,
            desired_state: DesiredState::Running,
            state: TaskState::Running,
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

    fn ids(column: &Column) -> Vec<&str> {
        column.tasks.iter().map(|task| task.id.as_str()).collect()
    }

    #[test]
    fn nodes_by_hostname_hold_their_live_tasks_and_the_rest_comes_last() {
        let mut stopping = task("stopping", "web", 1, Some("n1"));
        stopping.desired_state = DesiredState::Shutdown;
        let mut ended = task("ended", "web", 2, Some("n1"));
        ended.state = TaskState::Failed;
        let tasks = vec![
            task("web-2", "web", 2, Some("n1")),
            task("api-1", "api", 1, Some("n1")),
            task("web-1", "web", 1, Some("n1")),
            task("db-1", "db", 1, Some("n2")),
            task("waiting", "db", 2, None),
            task("orphan", "db", 3, Some("gone")),
            stopping,
            ended,
        ];
        let columns = columns(
            vec![node("n1", "zeta"), node("n2", "alpha"), node("n3", "idle")],
            tasks,
        );
        let hostnames: Vec<Option<&str>> = columns
            .iter()
            .map(|column| column.node.as_ref().map(|node| node.hostname.as_str()))
            .collect();
        assert_eq!(hostnames, [Some("alpha"), Some("idle"), Some("zeta"), None]);
        assert_eq!(ids(&columns[0]), ["db-1"]);
        assert!(columns[1].tasks.is_empty());
        assert_eq!(ids(&columns[2]), ["api-1", "web-1", "web-2"]);
        assert_eq!(ids(&columns[3]), ["waiting", "orphan"]);
    }

    #[test]
    fn a_service_keeps_its_hue() {
        assert_eq!(service_hue("svc-1"), service_hue("svc-1"));
        assert_ne!(service_hue("svc-1"), service_hue("svc-2"));
        assert!(service_hue("anything") < 360);
    }
}
