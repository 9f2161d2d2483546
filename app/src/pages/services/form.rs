//! The service form, for a new service and for a change to one: the usual
//! fields in view, the rest folded away in "Advanced". It submits a whole
//! spec, checked first by the same validation the server applies.

use leptos::{ev::SubmitEvent, prelude::*, reactive::computed::create_slice};
use shoal_proto::{
    FieldError,
    service::{Mode, ServiceSpec},
};

use super::{
    draft::{EnvDraft, HealthKind, PortDraft, ProbeType, SpecDraft, UpdateDraft},
    fields::{ChoiceField, ChoiceSelect, Field, Problem, TextField, TextInput, field_error_of},
};
use crate::components::form_error::{FormError, sentence};

/// Fields shown only under "Advanced"; a problem in one opens it.
const ADVANCED: [&str; 12] = [
    "entrypoint",
    "preferences",
    "max_replicas_per_node",
    "resources",
    "healthcheck",
    "probe",
    "restart_policy",
    "stop_grace_period",
    "drain_timeout",
    "pull_policy",
    "update_config",
    "rollback_config",
];

/// `slice!` for one field of one row of a list in the draft. A row removed
/// meanwhile reads as empty and ignores writes.
macro_rules! row_slice {
    ($draft:ident . $list:ident [ $index:expr ] . $field:ident) => {
        create_slice(
            $draft,
            move |draft: &SpecDraft| {
                draft
                    .$list
                    .get($index)
                    .map(|row| row.$field.clone())
                    .unwrap_or_default()
            },
            move |draft: &mut SpecDraft, value| {
                if let Some(row) = draft.$list.get_mut($index) {
                    row.$field = value;
                }
            },
        )
    };
}

/// `server_error` is the last refusal of the server; when it names a field
/// (`ports[1].published: …`) it is shown there too. What the user typed
/// stays after any error.
#[component]
pub fn ServiceForm(
    initial: SpecDraft,
    submit_label: &'static str,
    #[prop(into)] pending: Signal<bool>,
    #[prop(into)] server_error: Signal<Option<String>>,
    #[prop(into)] on_submit: Callback<ServiceSpec>,
    #[prop(optional)] cancel_href: Option<String>,
) -> impl IntoView {
    let draft = RwSignal::new(initial);
    // Set by the last submit's own checks; while it holds, the server's
    // (older) answer is not shown.
    let own_problem = RwSignal::new(None::<FieldError>);
    let problem = Signal::derive(move || {
        own_problem
            .get()
            .or_else(|| server_error.get().map(|message| field_error_of(&message)))
    });
    provide_context(Problem(problem));
    let advanced_open = RwSignal::new(false);

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let checked = draft
            .with_untracked(SpecDraft::to_spec)
            .and_then(|spec| spec.validate().map(|()| spec));
        match checked {
            Ok(spec) => {
                own_problem.set(None);
                on_submit.run(spec);
            }
            Err(error) => own_problem.set(Some(error)),
        }
    };
    Effect::new(move |_| {
        let folded_away = problem.with(|problem| {
            problem
                .as_ref()
                .is_some_and(|problem| ADVANCED.iter().any(|field| problem.field.starts_with(field)))
        });
        if folded_away {
            advanced_open.set(true);
        }
    });
    let summary = Signal::derive(move || {
        problem.get().map(|problem| match problem.field.as_str() {
            "" => sentence(&problem.message),
            field => format!("Check {field}: {}", problem.message),
        })
    });

    view! {
        <form class="service-form" id="service-form" on:submit=submit novalidate>
            <BasicFields draft />
            <details class="panel advanced" id="service-advanced" open=move || advanced_open.get()>
                <summary on:click=move |ev| {
                    ev.prevent_default();
                    advanced_open.update(|open| *open = !*open);
                }>
                    "Advanced: entrypoint, placement, resources, health, restarts, updates"
                </summary>
                <AdvancedFields draft />
            </details>
            <FormError message=summary id="service-form-error" />
            <div class="form-actions">
                <button type="submit" class="button" id="service-submit" disabled=pending>
                    {submit_label}
                </button>
                {cancel_href.map(|href| view! { <a class="button secondary" href=href>"Cancel"</a> })}
            </div>
        </form>
    }
}

#[component]
fn BasicFields(draft: RwSignal<SpecDraft>) -> impl IntoView {
    let replicated = move || draft.with(|d| d.mode == Mode::Replicated);
    view! {
        <div class="panel form-grid">
            <h2>"Service"</h2>
            <TextField
                id="service-name"
                label="Name"
                path="name"
                value=slice!(draft.name)
                placeholder="web"
                hint="a-z, 0-9 and '-': tasks find the service by it"
            />
            <TextField
                id="service-image"
                label="Image"
                path="image"
                value=slice!(draft.image)
                placeholder="registry.example.com/web:1.4"
            />
            <ChoiceField id="service-mode" label="Mode" path="mode" value=slice!(draft.mode) hint="global: one task on every eligible node" />
            <Show when=replicated>
                <TextField id="service-replicas" label="Replicas" path="replicas" value=slice!(draft.replicas) numeric=true />
            </Show>
            <TextField
                id="service-command"
                label="Command"
                path="command"
                value=slice!(draft.command)
                placeholder="the image's default"
                hint="Arguments as a shell splits them: quote a word with spaces."
            />
            <TextField
                id="service-constraints"
                label="Constraints"
                path="constraints"
                value=slice!(draft.constraints)
                lines=3
                placeholder="node.role!=manager\nnode.labels.zone==a"
                hint="One per line, all must hold: node.id, node.hostname, node.role, node.labels.KEY, node.platform.os, node.platform.arch with == or !=."
            />
            <TextField
                id="service-networks"
                label="Networks"
                path="networks"
                value=slice!(draft.networks)
                placeholder="backend"
                hint="Services on a shared network reach each other by name on their target ports."
            />
            <PortRows draft />
            <EnvRows draft />
        </div>
    }
}

/// Published ports, one row each.
#[component]
fn PortRows(draft: RwSignal<SpecDraft>) -> impl IntoView {
    let count = Memo::new(move |_| draft.with(|d| d.ports.len()));
    let rows = move || {
        (0..count.get())
            .map(|i| {
                view! {
                    <tr>
                        <td><TextInput id=format!("service-port-{i}-target") path=format!("ports[{i}].target") label="Target port" value=row_slice!(draft.ports[i].target) numeric=true placeholder="8080" /></td>
                        <td><TextInput id=format!("service-port-{i}-published") path=format!("ports[{i}].published") label="Published port" value=row_slice!(draft.ports[i].published) numeric=true placeholder="none" /></td>
                        <td><ChoiceSelect id=format!("service-port-{i}-protocol") label="Protocol" value=row_slice!(draft.ports[i].protocol) /></td>
                        <td><ChoiceSelect id=format!("service-port-{i}-mode") label="Publish mode" value=row_slice!(draft.ports[i].mode) /></td>
                        <td><RemoveRow on_remove=move || draft.update(|d| { d.ports.remove(i); }) /></td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <Field id="service-ports" label="Published ports" path="ports" wide=true hint="Target: the container's port. Published: the port on every node (ingress) or on the task's node (host).">
            <Show when=move || { count.get() > 0 }>
                <table class="rows">
                    <thead><tr><th>"Target"</th><th>"Published"</th><th>"Protocol"</th><th>"Mode"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
            <AddRow id="service-ports" label="Add a port" on_add=move || draft.update(|d| d.ports.push(PortDraft::default())) />
        </Field>
    }
}

/// Environment variables, one row each.
#[component]
fn EnvRows(draft: RwSignal<SpecDraft>) -> impl IntoView {
    let count = Memo::new(move |_| draft.with(|d| d.environment.len()));
    let rows = move || {
        (0..count.get())
            .map(|i| {
                view! {
                    <tr>
                        <td><TextInput id=format!("service-env-{i}-key") label="Variable" value=row_slice!(draft.environment[i].key) placeholder="NAME" /></td>
                        <td class="grow"><TextInput id=format!("service-env-{i}-value") label="Value" value=row_slice!(draft.environment[i].value) placeholder="value" /></td>
                        <td><RemoveRow on_remove=move || draft.update(|d| { d.environment.remove(i); }) /></td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <Field id="service-environment" label="Environment" path="environment" wide=true>
            <Show when=move || { count.get() > 0 }>
                <table class="rows full">
                    <thead><tr><th>"Variable"</th><th>"Value"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
            <AddRow id="service-environment" label="Add a variable" on_add=move || draft.update(|d| d.environment.push(EnvDraft::default())) />
        </Field>
    }
}

#[component]
fn AddRow(id: &'static str, label: &'static str, #[prop(into)] on_add: Callback<()>) -> impl IntoView {
    view! {
        <div>
            <button type="button" class="button small secondary" id=format!("{id}-add") on:click=move |_| on_add.run(())>
                {label}
            </button>
        </div>
    }
}

#[component]
fn RemoveRow(#[prop(into)] on_remove: Callback<()>) -> impl IntoView {
    view! {
        <button type="button" class="row-remove" title="Remove this row" on:click=move |_| on_remove.run(())>
            "×"
        </button>
    }
}

#[component]
fn AdvancedFields(draft: RwSignal<SpecDraft>) -> impl IntoView {
    let probing = move || draft.with(|d| d.probe.kind != ProbeType::Off);
    let probing_http = move || draft.with(|d| d.probe.kind == ProbeType::Http);
    let health_command =
        move || draft.with(|d| matches!(d.health.kind, HealthKind::Command | HealthKind::Shell));
    view! {
        <div class="form-grid">
            <h3>"Container"</h3>
            <TextField
                id="service-entrypoint"
                label="Entrypoint"
                path="entrypoint"
                value=slice!(draft.entrypoint)
                placeholder="the image's entrypoint"
            />
            <TextField id="service-stop-grace" label="Stop grace period" path="stop_grace_period" value=slice!(draft.stop_grace_period) hint="Between SIGTERM and SIGKILL, e.g. 10s." />
            <TextField id="service-drain-timeout" label="Drain timeout" path="drain_timeout" value=slice!(draft.drain_timeout) hint="Longest wait for the routing mesh to stop sending a task new connections before it stops, e.g. 10s." />
            <ChoiceField id="service-pull-policy" label="Pull policy" path="pull_policy" value=slice!(draft.pull_policy) />

            <h3>"Placement"</h3>
            <TextField
                id="service-preferences"
                label="Preferences"
                path="preferences"
                value=slice!(draft.preferences)
                lines=2
                placeholder="spread=node.labels.zone"
                hint="One per line; earlier ones weigh more."
            />
            <TextField id="service-max-per-node" label="Max replicas per node" path="max_replicas_per_node" value=slice!(draft.max_replicas_per_node) numeric=true placeholder="no limit" />

            <h3>"Resources"</h3>
            <TextField id="service-limit-cpus" label="CPU limit" path="resources.limits.cpus" value=slice!(draft.limits.cpus) numeric=true placeholder="e.g. 0.5" />
            <TextField id="service-limit-memory" label="Memory limit" path="resources.limits.memory" value=slice!(draft.limits.memory) placeholder="e.g. 256M" />
            <TextField id="service-reserve-cpus" label="CPU reservation" path="resources.reservations.cpus" value=slice!(draft.reservations.cpus) numeric=true placeholder="e.g. 0.25" />
            <TextField id="service-reserve-memory" label="Memory reservation" path="resources.reservations.memory" value=slice!(draft.reservations.memory) placeholder="e.g. 64M" />

            <h3>"Health check"</h3>
            <ChoiceField id="service-health-kind" label="Test" path="healthcheck.disable" value=slice!(draft.health.kind) />
            <Show when=health_command>
                <TextField id="service-health-command" label="Command" path="healthcheck.test" value=slice!(draft.health.command) placeholder="curl -f http://localhost/ || exit 1" />
            </Show>
            <TextField id="service-health-interval" label="Interval" path="healthcheck.interval" value=slice!(draft.health.interval) placeholder="30s" />
            <TextField id="service-health-timeout" label="Timeout" path="healthcheck.timeout" value=slice!(draft.health.timeout) placeholder="30s" />
            <TextField id="service-health-retries" label="Retries" path="healthcheck.retries" value=slice!(draft.health.retries) numeric=true placeholder="3" />
            <TextField id="service-health-start" label="Start period" path="healthcheck.start_period" value=slice!(draft.health.start_period) placeholder="0s" />

            <h3>"Probe from the node"</h3>
            <ChoiceField
                id="service-probe-type"
                label="Probe"
                path="probe"
                value=slice!(draft.probe.kind)
                hint="The agent checks the task through a published port; both it and the health check must pass."
            />
            <Show when=probing>
                <TextField id="service-probe-port" label="Port" path="probe.port" value=slice!(draft.probe.port) numeric=true placeholder="a target port" />
                <Show when=probing_http>
                    <TextField id="service-probe-path" label="Path" path="probe.path" value=slice!(draft.probe.path) placeholder="/" />
                </Show>
                <TextField id="service-probe-interval" label="Interval" path="probe.interval" value=slice!(draft.probe.interval) />
                <TextField id="service-probe-timeout" label="Timeout" path="probe.timeout" value=slice!(draft.probe.timeout) />
                <TextField id="service-probe-retries" label="Retries" path="probe.retries" value=slice!(draft.probe.retries) numeric=true />
                <TextField id="service-probe-start" label="Start period" path="probe.start_period" value=slice!(draft.probe.start_period) />
            </Show>

            <h3>"Restart policy"</h3>
            <ChoiceField id="service-restart-condition" label="Condition" path="restart_policy.condition" value=slice!(draft.restart.condition) />
            <TextField id="service-restart-delay" label="Delay" path="restart_policy.delay" value=slice!(draft.restart.delay) />
            <TextField id="service-restart-attempts" label="Max attempts" path="restart_policy.max_attempts" value=slice!(draft.restart.max_attempts) numeric=true hint="0: no limit." />
            <TextField id="service-restart-window" label="Window" path="restart_policy.window" value=slice!(draft.restart.window) hint="0s: attempts count for ever." />
        </div>
        <RolloutFields draft which=Rollout::Update />
        <RolloutFields draft which=Rollout::Rollback />
    }
}

/// Which of the spec's two rollout configs a group of fields edits.
#[derive(Clone, Copy)]
enum Rollout {
    Update,
    Rollback,
}

impl Rollout {
    fn config(self, draft: &SpecDraft) -> &UpdateDraft {
        match self {
            Rollout::Update => &draft.update_config,
            Rollout::Rollback => &draft.rollback_config,
        }
    }

    fn config_mut(self, draft: &mut SpecDraft) -> &mut UpdateDraft {
        match self {
            Rollout::Update => &mut draft.update_config,
            Rollout::Rollback => &mut draft.rollback_config,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Rollout::Update => "update_config",
            Rollout::Rollback => "rollback_config",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Rollout::Update => "Rolling update",
            Rollout::Rollback => "Rollback",
        }
    }
}

/// `slice!` for one field of the rollout config `which`.
macro_rules! rollout_slice {
    ($draft:ident, $which:ident . $field:ident) => {
        create_slice(
            $draft,
            move |draft: &SpecDraft| $which.config(draft).$field.clone(),
            move |draft: &mut SpecDraft, value| $which.config_mut(draft).$field = value,
        )
    };
}

#[component]
fn RolloutFields(draft: RwSignal<SpecDraft>, which: Rollout) -> impl IntoView {
    let path = which.path();
    let slug = path.replace('_', "-");
    let id = |name: &str| format!("service-{slug}-{name}");
    let field = |name: &str| format!("{path}.{name}");
    view! {
        <div class="form-grid">
            <h3>{which.title()}</h3>
            <TextField id=id("parallelism") label="Parallelism" path=field("parallelism") value=rollout_slice!(draft, which.parallelism) numeric=true hint="Tasks replaced at once; 0: all." />
            <TextField id=id("delay") label="Delay" path=field("delay") value=rollout_slice!(draft, which.delay) hint="Between batches." />
            <ChoiceField id=id("failure-action") label="On failure" path=field("failure_action") value=rollout_slice!(draft, which.failure_action) />
            <TextField id=id("monitor") label="Monitor" path=field("monitor") value=rollout_slice!(draft, which.monitor) hint="How long a new task must stay healthy." />
            <TextField id=id("max-failure-ratio") label="Max failure ratio" path=field("max_failure_ratio") value=rollout_slice!(draft, which.max_failure_ratio) numeric=true hint="0 to 1." />
            <ChoiceField id=id("order") label="Order" path=field("order") value=rollout_slice!(draft, which.order) />
            <TextField id=id("progress-deadline") label="Progress deadline" path=field("progress_deadline") value=rollout_slice!(draft, which.progress_deadline) />
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::super::fields::field_error_of;

    #[test]
    fn a_server_refusal_naming_a_field_is_put_at_that_field() {
        let error = field_error_of("constraints[0]: unknown operator \"=\": use == or !=");
        assert_eq!(error.field, "constraints[0]");
        assert_eq!(error.message, "unknown operator \"=\": use == or !=");
        let error = field_error_of("a service named web exists: pick another name");
        assert_eq!(error.field, "");
        assert_eq!(error.message, "a service named web exists: pick another name");
    }
}
