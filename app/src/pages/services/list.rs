use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use shoal_proto::{
    auth::Role,
    event::Event,
    service::{HEALTH_KEYS, Service, ServiceHealth, health_key_label},
};

use super::{fields::Choice, service_href};
use crate::{
    components::{
        auth::use_auth,
        filters::{
            FilterCount, FilterForm, FilterSelect, FilterText, matches_choice, matches_text, url_filters,
        },
        live::live_changes,
        loaded::loaded,
        table::{Column, DataTable},
    },
    format::utc,
    rpc::list_services,
};

/// Every service with what is happening to it, live: task and rollout
/// changes move the counts and the state without a reload. Filters by name
/// or image and by state live in the address (`?q=&state=`).
#[component]
pub fn ServicesPage() -> impl IntoView {
    let changes = live_changes(|event| {
        matches!(
            event,
            Event::ServiceUpdated { .. }
                | Event::ServiceRemoved { .. }
                | Event::TaskUpdated { .. }
                | Event::RolloutUpdated { .. }
        )
    });
    let services = Resource::new(move || changes.get(), |_| list_services());
    let [text, state] = url_filters("/services", ["q", "state"]);
    let operator = use_auth().current().is_some_and(|me| me.role >= Role::Operator);

    view! {
        <Title text="Services" />
        <section class="page">
            <div class="page-head">
                <h1>"Services"</h1>
                {operator.then(|| view! { <A href="/services/new" attr:class="button" attr:id="service-new">"New service"</A> })}
            </div>
            <ServiceFilters text state />
            {loaded("Loading services…", services, move |services| view! { <ServicesTable services text state /> }.into_any())}
        </section>
    }
}

/// The name-or-image and state filters above the table.
#[component]
fn ServiceFilters(text: RwSignal<String>, state: RwSignal<String>) -> impl IntoView {
    let states = HEALTH_KEYS
        .iter()
        .map(|key| (*key, health_key_label(key)))
        .collect();
    view! {
        <FilterForm id="services-filters" action="/services">
            <FilterText
                id="services-filter"
                name="q"
                label="Name or image"
                placeholder="web, shoal-demo:v2…"
                value=text
            />
            <FilterSelect
                id="services-state-filter"
                name="state"
                label="State"
                any="any state"
                options=states
                value=state
            />
        </FilterForm>
    }
}

#[component]
fn ServicesTable(services: Vec<Service>, text: RwSignal<String>, state: RwSignal<String>) -> impl IntoView {
    let total = services.len();
    let rows: Vec<(Service, ServiceHealth)> = services
        .into_iter()
        .map(|service| {
            let health = service.health();
            (service, health)
        })
        .collect();
    // What each row is matched on, kept for the counter.
    let keys: Vec<(String, String, &'static str)> = rows
        .iter()
        .map(|(service, health)| (service.name.clone(), service.spec.image.clone(), health.key()))
        .collect();
    let shown = Memo::new(move |_| {
        let (typed, chosen) = (text.get(), state.get());
        keys.iter()
            .filter(|(name, image, key)| matches_text(&typed, &[name, image]) && matches_choice(&chosen, key))
            .count()
    });
    let rows = rows
        .into_iter()
        .map(|(service, health)| view! { <ServiceRow service health text state /> }.into_any())
        .collect();
    view! {
        {(total > 0).then(|| view! { <FilterCount id="services-shown" noun="service" total shown /> })}
        <DataTable
            id="services-table"
            class="stack"
            columns=SERVICE_COLUMNS
            rows
            empty="No service yet. A service runs an image as a number of tasks spread over the nodes."
            empty_id="services-empty"
        />
    }
}

const SERVICE_COLUMNS: &[Column] = &[
    Column::new("Name"),
    Column::new("Image"),
    Column::new("State"),
    Column::new("Running"),
    Column::optional("Mode"),
    Column::optional("Updated"),
];

#[component]
fn ServiceRow(
    service: Service,
    health: ServiceHealth,
    text: RwSignal<String>,
    state: RwSignal<String>,
) -> impl IntoView {
    let counts = service.tasks;
    let complete = counts.running >= counts.desired;
    let key = health.key();
    let (name, image) = (service.name.clone(), service.spec.image.clone());
    let hidden = move || !(matches_text(&text.get(), &[&name, &image]) && matches_choice(&state.get(), key));
    let link_text = service.name.clone();
    view! {
        <tr data-service=service.name.clone() data-state=key hidden=hidden>
            <td class="strong" data-label="Name">
                <A href=service_href(&service.id)>{link_text}</A>
            </td>
            <td class="image" data-label="Image"><code>{service.spec.image.clone()}</code></td>
            <td class="service-state" data-label="State">
                <ServiceState health />
            </td>
            <td class="replicas" class:short=!complete data-label="Running">
                {format!("{} / {}", counts.running, counts.desired)}
                {(counts.pending > 0).then(|| view! { " " <span class="badge task-state state-pending">{format!("{} pending", counts.pending)}</span> })}
            </td>
            <td class="col-optional" data-label="Mode">{service.spec.mode.name()}</td>
            <td class="time col-optional" data-label="Updated">{utc(service.updated_at)}</td>
        </tr>
    }
}

/// A service's state as a word (never colour alone) and, when there is one,
/// the reason in words beside it.
#[component]
pub fn ServiceState(health: ServiceHealth) -> impl IntoView {
    let key = health.key();
    let reason = health.reason().map(str::to_owned);
    view! {
        <span class=format!("badge health health-{key}") title=reason.clone()>{health.label()}</span>
        {reason.map(|reason| view! { <span class="state-reason">{reason}</span> })}
    }
}
