//! Service networks: which exist, which services are on each, and, for
//! operators, making and removing them. Services join a network in their
//! own form (its Networks field); this page is where the names come from.

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;
use shoal_proto::{
    auth::Role,
    event::Event,
    network::{Network, check_network_name},
};

use super::services::service_href;
use crate::{
    components::{
        auth::use_auth,
        confirm::ConfirmButton,
        form_error::{FormError, failure, sentence},
        live::live_changes,
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::utc,
    rpc::{CreateNetwork, DeleteNetwork, list_networks},
};

/// Every network with its services, live: a service joining or leaving one
/// shows without a reload.
#[component]
pub fn NetworksPage() -> impl IntoView {
    let create = ServerAction::<CreateNetwork>::new();
    let delete = ServerAction::<DeleteNetwork>::new();
    let changes = live_changes(|event| {
        matches!(
            event,
            Event::NetworkCreated { .. }
                | Event::NetworkRemoved { .. }
                | Event::ServiceUpdated { .. }
                | Event::ServiceRemoved { .. }
        )
    });
    let networks = Resource::new(
        move || (changes.get(), create.version().get(), delete.version().get()),
        |_| list_networks(),
    );
    let operator = use_auth().current().is_some_and(|me| me.role >= Role::Operator);

    view! {
        <Title text="Networks" />
        <section class="page">
            <div class="page-head">
                <h1>"Networks"</h1>
            </div>
            <p class="lead muted">
                "Services on a shared network reach each other by name (NAME or NAME.NETWORK) on their target ports, \
                 through the agent on their node; services on no shared network cannot. \
                 A service joins a network in its form's Networks field."
            </p>
            {operator.then(|| view! { <NewNetworkForm create /> })}
            <FormError message=failure(delete.value()) id="networks-error" />
            {loaded(
                "Loading networks…",
                networks,
                move |networks| view! { <NetworksTable networks operator delete /> }.into_any(),
            )}
        </section>
    }
}

#[component]
fn NewNetworkForm(create: ServerAction<CreateNetwork>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let server_error = failure(create.value());
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            name.set(String::new());
        }
    });
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let typed = name.get_untracked().trim().to_owned();
        match check_network_name("name", &typed) {
            Ok(()) => {
                problem.set(None);
                create.dispatch(CreateNetwork {
                    name: typed,
                    // Neither option is built yet; the server refuses them
                    // (docs/networking.md, Not done yet).
                    encrypted: false,
                    proxy_protocol: false,
                });
            }
            Err(error) => problem.set(Some(sentence(&error.message))),
        }
    };

    view! {
        <form class="panel form-grid" id="network-form" on:submit=submit novalidate>
            <h2>"New network"</h2>
            <div class="field">
                <label for="network-name">"Name"</label>
                <input
                    id="network-name"
                    placeholder="backend"
                    autocomplete="off"
                    spellcheck="false"
                    bind:value=name
                />
                <p class="hint">"Lower-case letters, digits and '-': tasks resolve NAME.NETWORK."</p>
            </div>
            <FormError
                message=Signal::derive(move || problem.get().or_else(|| server_error.get()))
                id="network-form-error"
            />
            <div class="form-actions">
                <button type="submit" class="button" id="network-submit" disabled=create.pending()>
                    "Create network"
                </button>
            </div>
        </form>
    }
}

#[component]
fn NetworksTable(
    networks: Vec<Network>,
    operator: bool,
    delete: ServerAction<DeleteNetwork>,
) -> impl IntoView {
    let rows = networks
        .into_iter()
        .map(|network| view! { <NetworkRow network operator delete /> }.into_any())
        .collect();
    view! {
        <DataTable
            id="networks-table"
            class="stack"
            columns=NETWORK_COLUMNS
            rows
            empty="No network yet. Services on a shared network find each other by name."
            empty_id="networks-empty"
        />
    }
}

const NETWORK_COLUMNS: &[Column] = &[
    Column::new("Name"),
    Column::new("Services"),
    Column::new("Options"),
    Column::optional("Created"),
    Column::ACTIONS,
];

/// A network's options in words; "none" rather than an empty cell.
fn options(network: &Network) -> String {
    let words: Vec<&str> = [
        (network.encrypted, "encrypted"),
        (network.proxy_protocol, "PROXY protocol"),
    ]
    .into_iter()
    .filter_map(|(on, word)| on.then_some(word))
    .collect();
    if words.is_empty() {
        "none".to_owned()
    } else {
        words.join(", ")
    }
}

#[component]
fn NetworkRow(network: Network, operator: bool, delete: ServerAction<DeleteNetwork>) -> impl IntoView {
    let options = options(&network);
    let Network {
        id,
        name,
        created_at,
        services,
        ..
    } = network;
    let in_use = !services.is_empty();
    let members = if in_use {
        services
            .into_iter()
            .map(|service| {
                view! {
                    <li>
                        <A href=service_href(&service) attr:class="network-service">{service.clone()}</A>
                    </li>
                }
            })
            .collect_view()
            .into_any()
    } else {
        view! { <li class="muted">"none"</li> }.into_any()
    };
    // Offered for a network in use too: the server's refusal names the
    // services that hold it.
    let remove = operator.then(|| {
        view! {
            <ConfirmButton
                label="Delete"
                question=format!("Delete network {name}?")
                class="network-delete"
                on_confirm=move || {
                    delete.dispatch(DeleteNetwork { id: id.clone() });
                }
            />
        }
    });
    view! {
        <tr data-network=name.clone()>
            <td class="strong" data-label="Name">{name.clone()}</td>
            <td data-label="Services">
                <ul class="inline-list">{members}</ul>
            </td>
            <td data-label="Options">{options}</td>
            <td class="time col-optional" data-label="Created">{utc(created_at)}</td>
            <td class="actions">{remove}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_named_in_words_or_none() {
        let mut network = Network {
            id: "n1".into(),
            name: "backend".into(),
            encrypted: false,
            proxy_protocol: false,
            created_at: 0,
            services: Vec::new(),
        };
        assert_eq!(options(&network), "none");
        network.encrypted = true;
        assert_eq!(options(&network), "encrypted");
        network.proxy_protocol = true;
        assert_eq!(options(&network), "encrypted, PROXY protocol");
    }
}
