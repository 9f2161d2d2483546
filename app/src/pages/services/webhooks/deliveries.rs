//! What came in to a webhook: each delivery with its outcome and why.

use leptos::prelude::*;
use shoal_proto::webhook::Delivery;

use crate::{
    components::{
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::utc,
};

/// The unfolded webhook's deliveries; `None` while none is unfolded.
pub(super) type DeliveriesResource = Resource<Result<Option<Vec<Delivery>>, ServerFnError>>;

/// The unfolded webhook's recent deliveries, newest first.
#[component]
pub(super) fn DeliveryList(deliveries: DeliveriesResource, refreshes: RwSignal<u64>) -> impl IntoView {
    view! {
        <div class="deliveries">
            <div class="deliveries-head">
                <h3>"Recent deliveries"</h3>
                <button
                    type="button"
                    class="button small secondary"
                    id="webhook-deliveries-refresh"
                    on:click=move |_| refreshes.update(|n| *n += 1)
                >
                    "Refresh"
                </button>
            </div>
            {loaded("Loading deliveries…", deliveries, move |value| match value {
                Some(deliveries) => view! { <DeliveryTable deliveries /> }.into_any(),
                None => ().into_any(),
            })}
        </div>
    }
}

#[component]
fn DeliveryTable(deliveries: Vec<Delivery>) -> impl IntoView {
    let dash = || view! { <span class="muted">"—"</span> };
    let rows = deliveries
        .into_iter()
        .map(|delivery| {
            let outcome = delivery.outcome.as_str();
            view! {
                <tr data-delivery=delivery.id data-outcome=outcome>
                    <td class="time">{utc(delivery.received_at)}</td>
                    <td>
                        <code>{delivery.source}</code>
                        {delivery.format.map(|format| view! { <span class="tag">{format}</span> })}
                    </td>
                    <td>
                        <span class=format!("badge outcome outcome-{outcome}")>{outcome}</span>
                    </td>
                    <td class="delivery-status">{delivery.status}</td>
                    <td>
                        {match delivery.image {
                            Some(image) => view! { <code>{image}</code> }.into_any(),
                            None => dash().into_any(),
                        }}
                    </td>
                    <td class="delivery-reason">{delivery.reason}</td>
                    <td>
                        {match delivery.rollout_id {
                            Some(rollout) => view! { <RolloutRef rollout /> }.into_any(),
                            None => dash().into_any(),
                        }}
                    </td>
                </tr>
            }
            .into_any()
        })
        .collect();
    view! {
        <DataTable
            id="deliveries-table"
            class="deliveries-table"
            columns=DELIVERY_COLUMNS
            rows
            empty="Nothing has been posted to this webhook yet."
            empty_id="deliveries-empty"
        />
    }
}

const DELIVERY_COLUMNS: &[Column] = &[
    Column::new("Received"),
    Column::new("From"),
    Column::new("Outcome"),
    Column::new("HTTP"),
    Column::new("Image"),
    Column::new("Reason"),
    Column::new("Rollout"),
];

/// A rollout a delivery started. Rollouts have no page of their own; the
/// service page shows the latest, above.
#[component]
fn RolloutRef(rollout: String) -> impl IntoView {
    let short: String = rollout.chars().take(12).collect();
    view! {
        <a class="delivery-rollout" href="#service-rollout" title=format!("Rollout {rollout}")>
            <code>{short}</code>
        </a>
    }
}
