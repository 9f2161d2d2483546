use leptos::prelude::*;
use leptos_meta::Title;
use shoal_proto::{
    auth::Role,
    event::Event,
    node::{Availability, JoinToken, LabelsPatch, Node, NodeChange, NodeRole, NodeStatus},
};

use crate::{
    components::{
        auth::use_auth,
        confirm::ConfirmButton,
        filters::{
            FilterCount, FilterForm, FilterSelect, FilterText, matches_choice, matches_text, url_filters,
        },
        form_error::{FormError, failure},
        live::live_changes,
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::{gib, utc_or},
    rpc::{RemoveNode, RotateJoinToken, SetNodeRole, UpdateNode, get_join_tokens, list_nodes},
};

/// The cluster's nodes, live: the list reloads whenever the server's event
/// stream reports a change, so a node going down shows without a reload.
/// Filters by hostname, status and role live in the address
/// (`?q=&status=&role=`).
#[component]
pub fn NodesPage() -> impl IntoView {
    let update = ServerAction::<UpdateNode>::new();
    let remove = ServerAction::<RemoveNode>::new();
    let set_role = ServerAction::<SetNodeRole>::new();
    let changes = live_changes(|event| {
        matches!(
            event,
            Event::NodeJoined { .. }
                | Event::NodeStatus { .. }
                | Event::NodeUpdated { .. }
                | Event::NodeRemoved { .. }
        )
    });
    let nodes = Resource::new(
        move || {
            (
                changes.get(),
                update.version().get(),
                remove.version().get(),
                set_role.version().get(),
            )
        },
        |_| list_nodes(),
    );
    let role = use_auth().current().map_or(Role::Viewer, |me| me.role);
    let filters = NodeFilters::from_address();

    view! {
        <Title text="Nodes" />
        <section class="page">
            <div class="page-head">
                <h1>"Nodes"</h1>
            </div>
            {(role >= Role::Admin).then(|| view! { <JoinTokensPanel /> })}
            <FormError message=failure(update.value()) id="nodes-update-error" />
            <FormError message=failure(remove.value()) id="nodes-remove-error" />
            <FormError message=failure(set_role.value()) id="nodes-role-error" />
            <NodeFilterForm filters />
            {loaded("Loading nodes…", nodes, move |nodes| view! { <NodesTable nodes role update remove set_role filters /> }.into_any())}
        </section>
    }
}

/// What the nodes list is narrowed to: text in the hostname (or id,
/// address), a status and a role; empty for "any".
#[derive(Clone, Copy)]
struct NodeFilters {
    text: RwSignal<String>,
    status: RwSignal<String>,
    role: RwSignal<String>,
}

impl NodeFilters {
    fn from_address() -> Self {
        let [text, status, role] = url_filters("/nodes", ["q", "status", "role"]);
        Self { text, status, role }
    }

    fn lets_through(&self, node: &NodeKey) -> bool {
        matches_text(&self.text.get(), &[&node.hostname, &node.id, &node.address])
            && matches_choice(&self.status.get(), node.status)
            && matches_choice(&self.role.get(), node.role)
    }
}

/// What a filter looks at in one node.
#[derive(Clone)]
struct NodeKey {
    hostname: String,
    id: String,
    address: String,
    status: &'static str,
    role: &'static str,
}

impl NodeKey {
    fn of(node: &Node) -> Self {
        Self {
            hostname: node.hostname.clone(),
            id: node.id.clone(),
            address: node.address.clone(),
            status: node.status.as_str(),
            role: node.role.as_str(),
        }
    }
}

/// The hostname, status and role filters above the table.
#[component]
fn NodeFilterForm(filters: NodeFilters) -> impl IntoView {
    let NodeFilters { text, status, role } = filters;
    let statuses = NodeStatus::ALL.iter().map(|s| (s.as_str(), s.as_str())).collect();
    let roles = NodeRole::ALL.iter().map(|r| (r.as_str(), r.as_str())).collect();
    view! {
        <FilterForm id="nodes-filters" action="/nodes">
            <FilterText
                id="nodes-filter"
                name="q"
                label="Hostname"
                placeholder="hostname, id or address"
                value=text
            />
            <FilterSelect
                id="nodes-status-filter"
                name="status"
                label="Status"
                any="any status"
                options=statuses
                value=status
            />
            <FilterSelect id="nodes-role-filter" name="role" label="Role" any="any role" options=roles value=role />
        </FilterForm>
    }
}

#[component]
fn NodesTable(
    nodes: Vec<Node>,
    role: Role,
    update: ServerAction<UpdateNode>,
    remove: ServerAction<RemoveNode>,
    set_role: ServerAction<SetNodeRole>,
    filters: NodeFilters,
) -> impl IntoView {
    let total = nodes.len();
    let keys: Vec<NodeKey> = nodes.iter().map(NodeKey::of).collect();
    let shown = Memo::new(move |_| keys.iter().filter(|key| filters.lets_through(key)).count());
    let rows = nodes
        .into_iter()
        .map(|node| view! { <NodeRow node role update remove set_role filters /> }.into_any())
        .collect();
    view! {
        {(total > 0).then(|| view! { <FilterCount id="nodes-shown" noun="node" total shown /> })}
        <DataTable
            id="nodes-table"
            class="stack"
            columns=NODE_COLUMNS
            rows
            empty="No node has joined yet. Run the join command on a host with Docker."
            empty_id="nodes-empty"
        />
    }
}

const NODE_COLUMNS: &[Column] = &[
    Column::new("Hostname"),
    Column::new("Status"),
    Column::new("Role"),
    Column::new("Availability"),
    Column::new("Machine"),
    Column::new("Labels"),
    Column::optional("Last heartbeat"),
    Column::ACTIONS,
];

#[component]
fn NodeRow(
    node: Node,
    role: Role,
    update: ServerAction<UpdateNode>,
    remove: ServerAction<RemoveNode>,
    set_role: ServerAction<SetNodeRole>,
    filters: NodeFilters,
) -> impl IntoView {
    let id = node.id.clone();
    let status = node.status;
    let key = NodeKey::of(&node);
    let hidden = move || !filters.lets_through(&key);
    let editable = role >= Role::Operator;
    let labels = view! { <NodeLabels node=node.clone() editable update /> };
    let address = if role >= Role::Admin {
        view! { <NodeAddress id=id.clone() address=node.address.clone() update /> }.into_any()
    } else {
        view! { <span class="node-address">{node.address.clone()}</span> }.into_any()
    };
    let node_role = if role >= Role::Admin {
        let id = id.clone();
        view! {
            <select
                class="node-role"
                aria-label=format!("Role of {}", node.hostname)
                on:change=move |ev| {
                    if let Ok(role) = event_target_value(&ev).parse::<NodeRole>() {
                        set_role.dispatch(SetNodeRole { id: id.clone(), role });
                    }
                }
            >
                {NodeRole::ALL
                    .iter()
                    .map(|r| view! { <option value=r.as_str() selected=*r == node.role>{r.as_str()}</option> })
                    .collect_view()}
            </select>
        }
        .into_any()
    } else {
        view! { <span>{node.role.as_str()}</span> }.into_any()
    };
    let availability = if role >= Role::Operator {
        let id = id.clone();
        view! {
            <select
                class="node-availability"
                aria-label=format!("Availability of {}", node.hostname)
                on:change=move |ev| {
                    if let Ok(availability) = event_target_value(&ev).parse::<Availability>() {
                        update.dispatch(UpdateNode {
                            id: id.clone(),
                            change: NodeChange { availability: Some(availability), ..NodeChange::default() },
                        });
                    }
                }
            >
                {Availability::ALL
                    .iter()
                    .map(|a| view! { <option value=a.as_str() selected=*a == node.availability>{a.as_str()}</option> })
                    .collect_view()}
            </select>
        }
        .into_any()
    } else {
        view! { <span>{node.availability.as_str()}</span> }.into_any()
    };
    let remove_button = (role >= Role::Admin).then(|| {
        let id = id.clone();
        let force = status == NodeStatus::Ready;
        let question = if force {
            format!("{} is ready: force its removal?", node.hostname)
        } else {
            format!("Remove {}?", node.hostname)
        };
        view! {
            <ConfirmButton
                label="Remove"
                question
                class="node-remove"
                on_confirm=move || {
                    remove.dispatch(RemoveNode { id: id.clone(), force });
                }
            />
        }
    });
    view! {
        <tr data-node=node.hostname.clone() data-status=status.as_str() hidden=hidden>
            <td data-label="Hostname">
                <strong>{node.hostname.clone()}</strong>
                <div class="muted small node-ids"><code>{node.id.clone()}</code>" · "{address}</div>
            </td>
            <td data-label="Status">
                <span class=format!("badge node-status status-{}", status.as_str())>{status.as_str()}</span>
            </td>
            <td data-label="Role">{node_role}</td>
            <td data-label="Availability">{availability}</td>
            <td data-label="Machine">
                {format!("{} CPU · {}", node.resources.cpus, gib(node.resources.memory_bytes))}
                <div class="muted small">
                    {format!(
                        "{}/{} · engine {} · agent {}",
                        node.platform.os,
                        node.platform.arch,
                        node.engine_version,
                        node.agent_version,
                    )}
                </div>
            </td>
            <td data-label="Labels">{labels}</td>
            <td class="heartbeat col-optional" data-label="Last heartbeat">{utc_or(node.last_heartbeat_at, "never")}</td>
            <td class="actions">{remove_button}</td>
        </tr>
    }
}

/// A node's address, which an admin can change: it is fixed at join, and
/// the mesh sends other nodes' traffic there.
#[component]
fn NodeAddress(id: String, address: String, update: ServerAction<UpdateNode>) -> impl IntoView {
    let draft = RwSignal::new(address.clone());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        update.dispatch(UpdateNode {
            id: id.clone(),
            change: NodeChange {
                address: Some(draft.get()),
                ..NodeChange::default()
            },
        });
    };
    view! {
        <details class="node-address">
            <summary title="Change the address other nodes reach this one at">{address}</summary>
            <form class="node-address-form" on:submit=submit>
                <input
                    class="node-address-input"
                    aria-label="Node address"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                />
                <button type="submit" class="button small secondary">"Set"</button>
            </form>
        </details>
    }
}

/// A node's labels; operators remove one with its ×, or add `key=value`.
/// The labels the node reported itself follow, read-only.
#[component]
fn NodeLabels(node: Node, editable: bool, update: ServerAction<UpdateNode>) -> impl IntoView {
    let id = StoredValue::new(node.id.clone());
    let patch = move |labels: LabelsPatch| {
        update.dispatch(UpdateNode {
            id: id.get_value(),
            change: NodeChange {
                labels: Some(labels),
                ..NodeChange::default()
            },
        });
    };
    let chips = node
        .labels
        .into_iter()
        .map(|(key, value)| {
            let remove_key = key.clone();
            let remove_label = format!("Remove label {key}");
            view! {
                <span class="label-chip">
                    {format!("{key}={value}")}
                    {editable.then(|| view! {
                        <button
                            type="button"
                            class="label-remove"
                            title="Remove this label"
                            aria-label=remove_label
                            on:click=move |_| patch(LabelsPatch { add: Default::default(), remove: vec![remove_key.clone()] })
                        >
                            "×"
                        </button>
                    })}
                </span>
            }
        })
        .collect_view();
    let draft = RwSignal::new(String::new());
    let hint = RwSignal::new(None::<String>);
    let add = move || {
        let text = draft.get();
        match text.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                let add = [(key.trim().to_owned(), value.trim().to_owned())]
                    .into_iter()
                    .collect();
                patch(LabelsPatch {
                    add,
                    remove: Vec::new(),
                });
                draft.set(String::new());
                hint.set(None);
            }
            _ => hint.set(Some("write a label as key=value, e.g. zone=a".into())),
        }
    };
    let reported = node
        .engine_labels
        .into_iter()
        .map(|(key, value)| {
            view! {
                <span
                    class="label-chip engine-label"
                    title="Reported by the node when it joined; constraints read it as engine.labels.KEY"
                >
                    {format!("{key}={value}")}
                </span>
            }
        })
        .collect_view();
    view! {
        {chips}
        {reported}
        {editable.then(|| view! {
            <form class="label-add" on:submit=move |ev| { ev.prevent_default(); add(); }>
                <input
                    class="label-input"
                    placeholder="key=value"
                    aria-label="New label"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                />
                <button type="submit" class="button small secondary label-add-button">"Add"</button>
            </form>
            <FormError message=hint />
        })}
    }
}

/// Both join commands, ready to copy, with rotation (admins only).
#[component]
fn JoinTokensPanel() -> impl IntoView {
    let rotate = ServerAction::<RotateJoinToken>::new();
    let tokens = Resource::new(move || rotate.version().get(), |_| get_join_tokens());
    view! {
        <article class="card join-tokens" id="join-tokens">
            <h2>"Add a node"</h2>
            <FormError message=failure(rotate.value()) id="join-tokens-error" />
            {loaded("Loading join tokens…", tokens, move |tokens| view! {
                <JoinCommand token=tokens.worker rotate />
                <JoinCommand token=tokens.manager rotate />
            }
                .into_any())}
        </article>
    }
}

#[component]
fn JoinCommand(token: JoinToken, rotate: ServerAction<RotateJoinToken>) -> impl IntoView {
    let role = token.role.as_str();
    view! {
        <div class="join-command" data-role=role>
            <p>
                "On a host with Docker, run this to join it as a "<strong>{role}</strong>":"
            </p>
            <pre class="command" id=format!("join-command-{role}")>{token.command}</pre>
            <ConfirmButton
                label="Rotate"
                question=format!("Rotate the {role} token? New joins need the new one; joined nodes stay.")
                class="join-rotate"
                on_confirm=move || {
                    rotate.dispatch(RotateJoinToken { role: role.to_owned() });
                }
            />
        </div>
    }
}
