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
        form_error::{FormError, failure, user_message},
        live::live_changes,
    },
    format::utc_or,
    rpc::{RemoveNode, RotateJoinToken, SetNodeRole, UpdateNode, get_join_tokens, list_nodes},
};

/// The cluster's nodes, live: the list reloads whenever the server's event
/// stream reports a change, so a node going down shows without a reload.
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
            <Transition fallback=|| view! { <p class="muted">"Loading nodes…"</p> }>
                {move || Suspend::new(async move {
                    match nodes.await {
                        Ok(nodes) if nodes.is_empty() => view! {
                            <p class="muted" id="nodes-empty">
                                "No node has joined yet. Run the join command on a host with Docker."
                            </p>
                        }
                            .into_any(),
                        Ok(nodes) => view! { <NodesTable nodes role update remove set_role /> }.into_any(),
                        Err(error) => view! { <p class="form-error">{user_message(&error)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn NodesTable(
    nodes: Vec<Node>,
    role: Role,
    update: ServerAction<UpdateNode>,
    remove: ServerAction<RemoveNode>,
    set_role: ServerAction<SetNodeRole>,
) -> impl IntoView {
    let rows = nodes
        .into_iter()
        .map(|node| view! { <NodeRow node role update remove set_role /> })
        .collect_view();
    view! {
        <table class="table" id="nodes-table">
            <thead>
                <tr>
                    <th>"Hostname"</th>
                    <th>"Status"</th>
                    <th>"Role"</th>
                    <th>"Availability"</th>
                    <th>"Platform"</th>
                    <th>"Resources"</th>
                    <th>"Engine / agent"</th>
                    <th>"Labels"</th>
                    <th>"Last heartbeat"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn NodeRow(
    node: Node,
    role: Role,
    update: ServerAction<UpdateNode>,
    remove: ServerAction<RemoveNode>,
    set_role: ServerAction<SetNodeRole>,
) -> impl IntoView {
    let id = node.id.clone();
    let status = node.status;
    let editable = role >= Role::Operator;
    let labels = view! { <NodeLabels node=node.clone() editable update /> };
    let node_role = if role >= Role::Admin {
        let id = id.clone();
        view! {
            <select
                class="node-role"
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
                on:change=move |ev| {
                    if let Ok(availability) = event_target_value(&ev).parse::<Availability>() {
                        update.dispatch(UpdateNode {
                            id: id.clone(),
                            change: NodeChange { availability: Some(availability), labels: None },
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
        <tr data-node=node.hostname.clone() data-status=status.as_str()>
            <td>
                <strong>{node.hostname.clone()}</strong>
                <div class="muted small"><code>{node.id.clone()}</code>" · "{node.address.clone()}</div>
            </td>
            <td><span class=format!("badge node-status status-{}", status.as_str())>{status.as_str()}</span></td>
            <td>{node_role}</td>
            <td>{availability}</td>
            <td>{format!("{}/{}", node.platform.os, node.platform.arch)}</td>
            <td>{format!("{} CPU · {}", node.resources.cpus, format_bytes(node.resources.memory_bytes))}</td>
            <td>{format!("{} / {}", node.engine_version, node.agent_version)}</td>
            <td>{labels}</td>
            <td>{utc_or(node.last_heartbeat_at, "never")}</td>
            <td>{remove_button}</td>
        </tr>
    }
}

/// A node's labels; operators remove one with its ×, or add `key=value`.
#[component]
fn NodeLabels(node: Node, editable: bool, update: ServerAction<UpdateNode>) -> impl IntoView {
    let id = StoredValue::new(node.id.clone());
    let patch = move |labels: LabelsPatch| {
        update.dispatch(UpdateNode {
            id: id.get_value(),
            change: NodeChange {
                availability: None,
                labels: Some(labels),
            },
        });
    };
    let chips = node
        .labels
        .into_iter()
        .map(|(key, value)| {
            let remove_key = key.clone();
            view! {
                <span class="label-chip">
                    {format!("{key}={value}")}
                    {editable.then(|| view! {
                        <button
                            type="button"
                            class="label-remove"
                            title="Remove this label"
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
    view! {
        {chips}
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
            <Transition fallback=|| view! { <p class="muted">"Loading join tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(tokens) => view! {
                            <JoinCommand token=tokens.worker rotate />
                            <JoinCommand token=tokens.manager rotate />
                        }
                            .into_any(),
                        Err(error) => view! { <p class="form-error">{user_message(&error)}</p> }.into_any(),
                    }
                })}
            </Transition>
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

fn format_bytes(bytes: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    format!("{:.1} GiB", bytes as f64 / GIB)
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn memory_is_shown_in_gib() {
        assert_eq!(format_bytes(8 * 1024 * 1024 * 1024), "8.0 GiB");
        assert_eq!(format_bytes(1536 * 1024 * 1024), "1.5 GiB");
    }
}
