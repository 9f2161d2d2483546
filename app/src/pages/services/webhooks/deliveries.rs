//! What came in to a webhook: each delivery with its outcome and why.

use leptos::prelude::*;
use shoal_proto::webhook::Delivery;

use crate::{components::form_error::user_message, format::utc};

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
            <Transition fallback=|| view! { <p class="muted">"Loading deliveries…"</p> }>
                {move || Suspend::new(async move {
                    match deliveries.await {
                        Ok(Some(deliveries)) => view! { <DeliveryTable deliveries /> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <p class="form-error">{user_message(&error)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
fn DeliveryTable(deliveries: Vec<Delivery>) -> impl IntoView {
    if deliveries.is_empty() {
        return view! {
            <p class="muted" id="deliveries-empty">"Nothing has been posted to this webhook yet."</p>
        }
        .into_any();
    }
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
        })
        .collect_view();
    view! {
        <table class="table deliveries-table" id="deliveries-table">
            <thead>
                <tr>
                    <th>"Received"</th>
                    <th>"From"</th>
                    <th>"Outcome"</th>
                    <th>"HTTP"</th>
                    <th>"Image"</th>
                    <th>"Reason"</th>
                    <th>"Rollout"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

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
