//! Where a service's published ports can be reached: for each port, the
//! tasks the routing mesh forwards to, and every node's listener with its
//! counters (or why it cannot listen).

use leptos::prelude::*;
use shoal_proto::{
    ingress::{NodeListener, PublishedPort, ServiceIngress},
    service::{Protocol, PublishMode},
};

use crate::{
    components::{
        loaded::loaded,
        table::{Column, DataTable},
    },
    rpc::get_service_ingress,
};

/// The published ports of service `id`, reloaded when `changes` moves (a
/// task came, went or changed health) and on request, for fresh counters.
#[component]
pub fn IngressPanel(id: String, #[prop(into)] changes: Signal<u64>) -> impl IntoView {
    let refreshes = RwSignal::new(0u64);
    let view_of = Resource::new(
        move || (changes.get(), refreshes.get()),
        move |_| get_service_ingress(id.clone()),
    );
    view! {
        <section class="service-section" id="service-ingress">
            <h2>"Published ports"</h2>
            {loaded("Loading the published ports…", view_of, move |value| match value {
                ingress if ingress.ports.is_empty() => view! {
                    <p class="muted">"This service publishes no port."</p>
                }
                    .into_any(),
                ingress => view! { <Ports ingress /> }.into_any(),
            })}
            <button type="button" class="button secondary small" id="ingress-refresh"
                on:click=move |_| refreshes.update(|n| *n += 1)>
                "Refresh counters"
            </button>
        </section>
    }
}

#[component]
fn Ports(ingress: ServiceIngress) -> impl IntoView {
    let version = ingress.table_version;
    ingress
        .ports
        .into_iter()
        .map(|port| view! { <Port port version /> })
        .collect_view()
}

#[component]
fn Port(port: PublishedPort, version: u64) -> impl IntoView {
    let ingress = port.mode == PublishMode::Ingress;
    let title = format!(
        "{}/{} → {} ({})",
        port.published,
        if port.protocol == Protocol::Udp {
            "udp"
        } else {
            "tcp"
        },
        port.target,
        if ingress {
            "routing mesh, every node"
        } else {
            "host mode, nodes running a task"
        }
    );
    let backends = if port.backends.is_empty() {
        view! { <p class="muted">"No healthy task: connections are refused until one is ready."</p> }
            .into_any()
    } else {
        let items = port
            .backends
            .into_iter()
            .map(|b| {
                view! {
                    <li class="ingress-backend">
                        <code>{b.addr}</code>" on "{b.hostname}" "
                        <span class="muted">"task "{short(&b.task_id).to_owned()}</span>
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="ingress-backends">{items}</ul> }.into_any()
    };
    let nodes = port
        .nodes
        .into_iter()
        .map(|node| view! { <ListenerRow node version ingress /> }.into_any())
        .collect();
    view! {
        <div class="ingress-port" data-published=port.published>
            <h3>{title}</h3>
            <p class="label">"Forwards to"</p>
            {backends}
            <DataTable class="ingress-nodes" columns=LISTENER_COLUMNS rows=nodes />
        </div>
    }
}

const LISTENER_COLUMNS: &[Column] = &[
    Column::new("Node"),
    Column::new("Listens on"),
    Column::new("Backends"),
    Column::new("Connections"),
    Column::new("Active"),
    Column::new("Bytes in / out"),
    Column::new("Errors"),
];

#[component]
fn ListenerRow(node: NodeListener, version: u64, ingress: bool) -> impl IntoView {
    let behind = ingress && node.table_version < version;
    let status = match (&node.error, behind) {
        (Some(error), _) => view! { <span class="badge status-revoked">{error.clone()}</span> }.into_any(),
        (None, true) => {
            view! { <span class="badge status-expired">"applying a newer table"</span> }.into_any()
        }
        (None, false) => view! { <span class="badge status-active">"listening"</span> }.into_any(),
    };
    let metrics = node.metrics;
    view! {
        <tr data-node=node.node_id.clone()>
            <td>{node.hostname}</td>
            <td><code>{node.addr}</code>" "{status}</td>
            <td>{node.backends.len()}</td>
            <td>{metrics.connections}</td>
            <td>{metrics.active}</td>
            <td>{format!("{} / {}", bytes(metrics.bytes_in), bytes(metrics.bytes_out))}</td>
            <td>{format!("{} ({} retried)", metrics.errors, metrics.retries)}</td>
        </tr>
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
