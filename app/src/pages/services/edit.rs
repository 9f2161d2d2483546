use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use shoal_proto::service::Service;

use super::{draft::SpecDraft, form::ServiceForm, service_href};
use crate::{
    components::{form_error::failure, loaded::loaded},
    rpc::{CreateService, UpdateService, get_service},
};

/// Opens the service's page once it is saved.
fn show_when_saved(saved: impl Get<Value = Option<Result<Service, ServerFnError>>> + 'static) {
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(service)) = saved.get() {
            navigate(&service_href(&service.id), Default::default());
        }
    });
}

#[component]
pub fn NewServicePage() -> impl IntoView {
    let create = ServerAction::<CreateService>::new();
    show_when_saved(create.value());
    view! {
        <Title text="New service" />
        <section class="page">
            <div class="page-head">
                <h1>"New service"</h1>
            </div>
            <ServiceForm
                initial=SpecDraft::new_service()
                submit_label="Create service"
                pending=create.pending()
                server_error=failure(create.value())
                on_submit=move |spec| {
                    create.dispatch(CreateService { spec });
                }
                cancel_href="/services".to_owned()
            />
        </section>
    }
}

/// The service's current spec in the form; saving makes a new revision.
#[component]
pub fn EditServicePage() -> impl IntoView {
    let params = use_params_map();
    let id = params.with_untracked(|params| params.get("id").unwrap_or_default());
    // Loaded once: a change someone else makes meanwhile must not wipe what
    // is being typed. The server keeps every revision, so nothing is lost.
    let service = Resource::new(|| (), move |_| get_service(id.clone()));
    let update = ServerAction::<UpdateService>::new();
    show_when_saved(update.value());

    view! {
        <Title text="Edit service" />
        <section class="page">
            {loaded("Loading the service…", service, move |service| {
                let id = service.id.clone();
                view! {
                    <div class="page-head">
                        <h1>"Edit " {service.name.clone()}</h1>
                        <span class="muted">"revision " {service.revision}</span>
                    </div>
                    <ServiceForm
                        initial=SpecDraft::from_spec(&service.spec)
                        submit_label="Save as a new revision"
                        pending=update.pending()
                        server_error=failure(update.value())
                        on_submit=move |spec| {
                            update.dispatch(UpdateService { id: id.clone(), spec });
                        }
                        cancel_href=service_href(&service.id)
                    />
                }
                    .into_any()
            })}
        </section>
    }
}
