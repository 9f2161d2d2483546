use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use shoal_proto::{auth::Role, event::Event, service::Service};

use super::{fields::Choice, service_href};
use crate::{
    components::{auth::use_auth, form_error::user_message, live::live_changes},
    format::utc,
    rpc::list_services,
};

/// Every service with how its tasks are doing, live: task changes move the
/// counts without a reload.
#[component]
pub fn ServicesPage() -> impl IntoView {
    let changes = live_changes(|event| {
        matches!(
            event,
            Event::ServiceUpdated { .. } | Event::ServiceRemoved { .. } | Event::TaskUpdated { .. }
        )
    });
    let services = Resource::new(move || changes.get(), |_| list_services());
    let operator = use_auth().current().is_some_and(|me| me.role >= Role::Operator);

    view! {
        <Title text="Services" />
        <section class="page">
            <div class="page-head">
                <h1>"Services"</h1>
                {operator.then(|| view! { <A href="/services/new" attr:class="button" attr:id="service-new">"New service"</A> })}
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading services…"</p> }>
                {move || Suspend::new(async move {
                    match services.await {
                        Ok(services) if services.is_empty() => view! {
                            <p class="empty" id="services-empty">
                                "No service yet. A service runs an image as a number of tasks spread over the nodes."
                            </p>
                        }
                            .into_any(),
                        Ok(services) => view! { <ServicesTable services /> }.into_any(),
                        Err(error) => view! { <p class="form-error">{user_message(&error)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ServicesTable(services: Vec<Service>) -> impl IntoView {
    let rows = services
        .into_iter()
        .map(|service| view! { <ServiceRow service /> })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="table" id="services-table">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Image"</th>
                        <th>"Mode"</th>
                        <th>"Running"</th>
                        <th>"Pending"</th>
                        <th>"Updated"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

#[component]
fn ServiceRow(service: Service) -> impl IntoView {
    let counts = service.tasks;
    let complete = counts.running >= counts.desired;
    let name = service.name.clone();
    view! {
        <tr data-service=service.name.clone()>
            <td class="strong">
                <A href=service_href(&service.id)>{name}</A>
            </td>
            <td><code>{service.spec.image.clone()}</code></td>
            <td>{service.spec.mode.name()}</td>
            <td class="replicas" class:short=!complete>{format!("{} / {}", counts.running, counts.desired)}</td>
            <td>
                {(counts.pending > 0).then(|| view! { <span class="badge task-state state-pending">{counts.pending}</span> })}
            </td>
            <td class="time">{utc(service.updated_at)}</td>
        </tr>
    }
}
