//! A service's webhooks: the addresses a registry or a CI job posts to for a
//! deploy, what each may deploy, their secrets (shown once), and what came
//! in. Operators only: the server refuses viewers every call made here.

mod deliveries;
mod form;
mod secrets;

use leptos::prelude::*;
use shoal_proto::{
    service::Service,
    webhook::{Webhook, WebhookChange},
};

use self::{
    deliveries::{DeliveriesResource, DeliveryList},
    form::NewWebhookForm,
    secrets::{Revealed, SecretsOnce},
};
use crate::{
    browser,
    components::{
        badge::{Status, StatusBadge},
        confirm::ConfirmButton,
        form_error::{FormError, failure},
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::utc_or,
    rpc::{
        CreateWebhook, DeleteWebhook, RotateWebhook, UpdateWebhook, list_webhook_deliveries, list_webhooks,
    },
};

/// Everything that changes a webhook; the list reloads after each.
#[derive(Clone, Copy)]
struct Levers {
    create: ServerAction<CreateWebhook>,
    update: ServerAction<UpdateWebhook>,
    rotate: ServerAction<RotateWebhook>,
    delete: ServerAction<DeleteWebhook>,
}

/// What the rows read and change, held by the panel so that a reload of the
/// list keeps it.
#[derive(Clone, Copy)]
struct Panel {
    levers: Levers,
    /// The browser's origin, for full addresses; empty in the server render.
    origin: RwSignal<String>,
    /// The webhook whose deliveries are shown.
    unfolded: RwSignal<Option<String>>,
    deliveries: DeliveriesResource,
    /// Deliveries come without a live event: Refresh asks again, for the
    /// deliveries shown and for the list's last-delivery times.
    refreshes: RwSignal<u64>,
}

/// The webhooks of service `id`; `service` gives the default allow-pattern.
#[component]
pub fn WebhooksPanel(id: String, service: Resource<Result<Service, ServerFnError>>) -> impl IntoView {
    let levers = Levers {
        create: ServerAction::new(),
        update: ServerAction::new(),
        rotate: ServerAction::new(),
        delete: ServerAction::new(),
    };
    let refreshes = RwSignal::new(0u64);
    let webhooks = {
        let id = id.clone();
        Resource::new(
            move || {
                (
                    levers.create.version().get(),
                    levers.update.version().get(),
                    levers.rotate.version().get(),
                    levers.delete.version().get(),
                    refreshes.get(),
                )
            },
            move |_| list_webhooks(id.clone()),
        )
    };
    let unfolded = RwSignal::new(None::<String>);
    let deliveries = Resource::new(
        move || (unfolded.get(), refreshes.get()),
        |(webhook, _)| async move {
            match webhook {
                Some(webhook) => list_webhook_deliveries(webhook).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // The server render shows the path until hydration completes it.
    let origin = RwSignal::new(String::new());
    Effect::new(move |_| origin.set(browser::origin()));
    let panel = Panel {
        levers,
        origin,
        unfolded,
        deliveries,
        refreshes,
    };
    // Read in an effect: a resource read outside a Transition would not
    // hydrate cleanly.
    let image = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(service)) = service.get() {
            image.set(Some(service.spec.image));
        }
    });
    let revealed = RwSignal::new(None::<Revealed>);
    Effect::new(move |_| {
        if let Some(Ok(created)) = levers.create.value().get() {
            revealed.set(Some(Revealed {
                created,
                rotated: false,
            }));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(created)) = levers.rotate.value().get() {
            revealed.set(Some(Revealed {
                created,
                rotated: true,
            }));
        }
    });
    let done = move || {
        revealed.set(None);
        // The actions hold the secrets too.
        levers.create.clear();
        levers.rotate.clear();
    };

    view! {
        <section class="service-section webhooks" id="service-webhooks">
            <h2>"Webhooks"</h2>
            <p class="muted webhooks-lead">
                "A registry push or a CI job deploys a new image of this service by posting to a webhook's address."
            </p>
            {move || {
                revealed
                    .get()
                    .map(|revealed| view! { <SecretsOnce revealed origin=origin.get() on_done=done /> })
            }}
            {loaded("Loading webhooks…", webhooks, move |webhooks| view! { <WebhookTable webhooks panel /> }.into_any())}
            <FormError message=failure(levers.update.value()) id="webhook-update-error" />
            <FormError message=failure(levers.rotate.value()) id="webhook-rotate-error" />
            <FormError message=failure(levers.delete.value()) id="webhook-delete-error" />
            <NewWebhookForm service=id create=levers.create image />
        </section>
    }
}

#[component]
fn WebhookTable(webhooks: Vec<Webhook>, panel: Panel) -> impl IntoView {
    let rows = webhooks
        .into_iter()
        .map(|webhook| view! { <WebhookRow webhook panel /> }.into_any())
        .collect();
    view! {
        <DataTable
            id="webhooks-table"
            class="webhooks-table"
            columns=WEBHOOK_COLUMNS
            rows
            row_groups=true
            empty="No webhooks yet: create one below for your registry or CI."
            empty_id="webhooks-empty"
        />
    }
}

const WEBHOOK_COLUMNS: &[Column] = &[
    Column::new("Name"),
    Column::new("Allows"),
    Column::new("Signed"),
    Column::new("Status"),
    Column::new("Last delivery"),
    Column::ACTIONS,
];

/// One webhook, as a `<tbody>` of its own so its deliveries unfold right
/// under it.
#[component]
fn WebhookRow(webhook: Webhook, panel: Panel) -> impl IntoView {
    let Panel {
        levers,
        origin,
        unfolded,
        deliveries,
        refreshes,
    } = panel;
    let Webhook {
        id,
        name,
        path,
        allow,
        signed,
        enabled,
        last_delivery_at,
        ..
    } = webhook;
    let open = {
        let id = id.clone();
        Memo::new(move |_| unfolded.with(|open| open.as_deref() == Some(id.as_str())))
    };
    let toggle_deliveries = {
        let id = id.clone();
        move |_| {
            let opening = unfolded.with_untracked(|open| open.as_deref() != Some(id.as_str()));
            unfolded.set(opening.then(|| id.clone()));
            // Whoever opens the deliveries wants the list's times as fresh.
            if opening {
                refreshes.update(|n| *n += 1);
            }
        }
    };
    let toggle_enabled = {
        let id = id.clone();
        move |_| {
            levers.update.dispatch(UpdateWebhook {
                id: id.clone(),
                change: WebhookChange {
                    enabled: Some(!enabled),
                    ..Default::default()
                },
            });
        }
    };
    let rotate = {
        let id = id.clone();
        move || {
            levers.rotate.dispatch(RotateWebhook { id: id.clone() });
        }
    };
    let delete = {
        let id = id.clone();
        move || {
            levers.delete.dispatch(DeleteWebhook { id: id.clone() });
        }
    };
    let status = if enabled { Status::Active } else { Status::Disabled };

    view! {
        <tbody data-webhook=name.clone() data-enabled=enabled.to_string()>
            <tr class="webhook-main">
                <td class="strong">{name.clone()}</td>
                <td>
                    <code class="webhook-allow">{allow}</code>
                </td>
                <td class="webhook-signed">{if signed { "yes" } else { "no" }}</td>
                <td class="webhook-status">
                    <StatusBadge status />
                </td>
                <td class="time">{utc_or(last_delivery_at, "never")}</td>
                <td class="actions">
                    <button
                        type="button"
                        class="button small secondary webhook-deliveries"
                        aria-pressed=move || open.get().to_string()
                        on:click=toggle_deliveries
                    >
                        "Deliveries"
                    </button>
                    <button
                        type="button"
                        class="button small secondary webhook-toggle"
                        disabled=levers.update.pending()
                        on:click=toggle_enabled
                    >
                        {if enabled { "Disable" } else { "Enable" }}
                    </button>
                    <ConfirmButton
                        label="Rotate secrets"
                        question=format!("New secrets for {name}? Senders using the current ones are refused.")
                        class="webhook-rotate"
                        on_confirm=rotate
                    />
                    <ConfirmButton
                        label="Delete"
                        question=format!("Delete {name}? Its address stops working.")
                        class="webhook-delete"
                        on_confirm=delete
                    />
                </td>
            </tr>
            // A line of its own: an address is too long to share one.
            <tr class="webhook-address">
                <td colspan="6">
                    <span class="muted">"POST "</span>
                    <code class="webhook-url">{move || format!("{}{path}", origin.get())}</code>
                </td>
            </tr>
            {move || {
                open.get()
                    .then(|| {
                        view! {
                            <tr class="webhook-details">
                                <td colspan="6">
                                    <DeliveryList deliveries refreshes />
                                </td>
                            </tr>
                        }
                    })
            }}
        </tbody>
    }
}
