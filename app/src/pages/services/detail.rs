use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
};
use shoal_proto::{
    auth::Role,
    event::Event,
    service::{Mode, Service},
};

use super::{
    fields::Choice, ingress::IngressPanel, plural, revisions::RevisionsPanel, rollout::RolloutPanel,
    service_href, tasks::TasksPanel, webhooks::WebhooksPanel,
};
use crate::{
    components::{
        auth::use_auth,
        confirm::ConfirmButton,
        form_error::{FormError, failure, user_message},
        live::on_live_event,
    },
    format::utc,
    rpc::{DeleteService, ScaleService, get_service},
};

/// One service: what it runs, its tasks on their nodes, its history.
#[component]
pub fn ServicePage() -> impl IntoView {
    let params = use_params_map();
    // Another service's page is another page, with its own subscriptions.
    move || {
        let id = params.with(|params| params.get("id").unwrap_or_default());
        view! { <ServiceView id /> }
    }
}

/// Whether an event's service is `key`, the id or name in the address.
fn is_service(key: &str, id: &str, name: &str) -> bool {
    key == id || key == name
}

#[component]
fn ServiceView(id: String) -> impl IntoView {
    let scale = ServerAction::<ScaleService>::new();
    let delete = ServerAction::<DeleteService>::new();
    // The header and the history change with a new revision (or the
    // service's removal); the tasks with every task and node event; the
    // rollout's head when a rollout starts or changes state, its progress
    // with every step.
    let (spec_changes, set_spec_changes) = signal(0u64);
    let (task_changes, set_task_changes) = signal(0u64);
    let (rollout_moves, set_rollout_moves) = signal(0u64);
    let (rollout_steps, set_rollout_steps) = signal(0u64);
    let bump = |counter: WriteSignal<u64>| counter.update(|n| *n += 1);
    {
        let key = id.clone();
        let mut last_revision = None;
        let mut last_rollout = None;
        on_live_event(move |event| match event {
            // Task counts move often; a new revision is what changes the header.
            Event::ServiceUpdated { service }
                if is_service(&key, &service.id, &service.name)
                    && last_revision.replace(service.revision) != Some(service.revision) =>
            {
                bump(set_spec_changes)
            }
            Event::ServiceRemoved { id, name } if is_service(&key, &id, &name) => bump(set_spec_changes),
            Event::TaskUpdated { task } if is_service(&key, &task.service_id, &task.service_name) => {
                bump(set_task_changes)
            }
            Event::RolloutUpdated { rollout }
                if is_service(&key, &rollout.service_id, &rollout.service_name) =>
            {
                let now = Some((rollout.id, rollout.state));
                if last_rollout != now {
                    last_rollout = now;
                    bump(set_rollout_moves);
                }
                bump(set_rollout_steps);
            }
            Event::NodeJoined { .. } | Event::NodeRemoved { .. } | Event::NodeUpdated { .. } => {
                bump(set_task_changes)
            }
            Event::Resync => {
                bump(set_spec_changes);
                bump(set_task_changes);
                bump(set_rollout_moves);
            }
            _ => {}
        });
    }
    let spec_changes = Signal::derive(move || spec_changes.get() + scale.version().get() as u64);
    // A new revision from the edit form or a rollback starts a rollout.
    let rollout_moves = Signal::derive(move || rollout_moves.get() + spec_changes.get());
    let rollout_steps = Signal::derive(move || rollout_steps.get() + task_changes.get());
    let service = {
        let id = id.clone();
        Resource::new(move || spec_changes.get(), move |_| get_service(id.clone()))
    };
    let operator = use_auth().current().is_some_and(|me| me.role >= Role::Operator);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(delete.value().get(), Some(Ok(()))) {
            navigate("/services", Default::default());
        }
    });

    view! {
        <section class="page wide service-page">
            <Transition fallback=|| view! { <p class="muted">"Loading the service…"</p> }>
                {move || Suspend::new(async move {
                    match service.await {
                        Ok(service) => view! { <ServiceHeader service operator scale delete /> }.into_any(),
                        Err(error) => view! {
                            <Title text="Service" />
                            <p class="form-error" id="service-error">{user_message(&error)}</p>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
            <FormError message=failure(scale.value()) id="service-scale-error" />
            <FormError message=failure(delete.value()) id="service-delete-error" />
            <RolloutPanel id=id.clone() operator moved=rollout_moves progressed=rollout_steps />
            <TasksPanel id=id.clone() changes=task_changes />
            <IngressPanel id=id.clone() changes=task_changes />
            <RevisionsPanel id=id.clone() operator changes=spec_changes />
            // Viewers may not read webhooks; the server refuses them too.
            {operator.then(|| view! { <WebhooksPanel id service /> })}
        </section>
    }
}

#[component]
fn ServiceHeader(
    service: Service,
    operator: bool,
    scale: ServerAction<ScaleService>,
    delete: ServerAction<DeleteService>,
) -> impl IntoView {
    let Service {
        id,
        name,
        revision,
        spec,
        address,
        updated_at,
        warnings,
        ..
    } = service;
    // Only tasks on a shared network reach the address, so it is shown
    // with the networks.
    let joined = spec.networks.len();
    let networks = (joined > 0).then(|| {
        let names = spec.networks.join(", ");
        view! {
            <span id="service-networks">
                {if joined == 1 { "network " } else { "networks " }}
                <A href="/networks">{names}</A>
            </span>
            {address.map(|address| view! { <span>"address " <code id="service-address">{address.to_string()}</code></span> })}
        }
    });
    let replicas = spec.replica_count();
    let mode = match replicas {
        Some(replicas) => format!("{} · {replicas} replica{}", spec.mode.name(), plural(replicas)),
        None => spec.mode.name().to_owned(),
    };
    let actions = operator.then(|| {
        let delete_id = id.clone();
        view! {
            <div class="service-actions">
                <A href=format!("{}/edit", service_href(&id)) attr:class="button secondary" attr:id="service-edit">
                    "Edit"
                </A>
                <ConfirmButton
                    label="Delete"
                    question=format!("Delete {name} and stop its tasks?")
                    class="service-delete"
                    on_confirm=move || {
                        delete.dispatch(DeleteService { id: delete_id.clone() });
                    }
                />
            </div>
        }
    });
    let scaler = (operator && spec.mode == Mode::Replicated).then(|| {
        view! { <ScaleControl id=id.clone() current=replicas.unwrap_or_default() scale /> }
    });

    view! {
        <Title text=name.clone() />
        <div class="page-head">
            <div>
                <h1 id="service-title">{name.clone()}</h1>
                <p class="service-facts">
                    <code id="service-current-image">{spec.image.clone()}</code>
                    <span id="service-revision">"revision " {revision}</span>
                    <span id="service-mode">{mode}</span>
                    {networks}
                    <span class="muted">"updated " {utc(updated_at)}</span>
                </p>
            </div>
            {actions}
        </div>
        {scaler}
        <SpecWarnings warnings />
    }
}

/// Settings the server accepted but doubts were meant.
#[component]
fn SpecWarnings(warnings: Vec<String>) -> impl IntoView {
    (!warnings.is_empty()).then(|| {
        view! {
            <ul class="spec-warnings" id="service-warnings">
                {warnings.into_iter().map(|warning| view! { <li>{warning}</li> }).collect_view()}
            </ul>
        }
    })
}

/// The replica count of a replicated service, changed in place.
#[component]
fn ScaleControl(id: String, current: u64, scale: ServerAction<ScaleService>) -> impl IntoView {
    let replicas = RwSignal::new(current.to_string());
    let problem = RwSignal::new(None::<String>);
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        match replicas.get_untracked().trim().parse::<u64>() {
            Ok(replicas) => {
                problem.set(None);
                scale.dispatch(ScaleService {
                    id: id.clone(),
                    replicas,
                });
            }
            Err(_) => problem.set(Some("Replicas is a whole number, 0 or more.".to_owned())),
        }
    };
    view! {
        <form class="inline-form scale-control" on:submit=submit novalidate>
            <label for="service-scale-replicas">"Replicas"</label>
            <input id="service-scale-replicas" type="number" min="0" step="1" bind:value=replicas />
            <button type="submit" class="button small" id="service-scale-submit" disabled=scale.pending()>
                "Scale"
            </button>
            <FormError message=problem />
        </form>
    }
}
