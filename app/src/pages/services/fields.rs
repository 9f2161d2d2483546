//! The inputs of the service form. Each is bound to one part of the draft
//! and knows its field's path in the spec (`ports[1].published`), so the
//! form's current problem lands next to the input it is about.

use leptos::prelude::*;
use shoal_proto::{
    FieldError,
    service::{FailureAction, Mode, Protocol, PublishMode, PullPolicy, RestartCondition, UpdateOrder},
};

use super::draft::{HealthKind, ProbeType};
use crate::components::form_error::sentence;

/// A two-way binding to one part of the draft (what `slice!` makes).
pub type Bound<T> = (Signal<T>, SignalSetter<T>);

/// The server words a refused spec as `field: message` (a [`FieldError`]
/// displayed); anything else is a problem of the whole form.
pub fn field_error_of(message: &str) -> FieldError {
    match message.split_once(": ") {
        Some((field, rest)) if !field.is_empty() && !field.contains(char::is_whitespace) => {
            FieldError::new(field, rest)
        }
        _ => FieldError::new("", message),
    }
}

/// The form's current problem, from its own checks or from the server.
#[derive(Clone, Copy)]
pub struct Problem(pub Signal<Option<FieldError>>);

impl Problem {
    fn message_for(self, path: &str) -> Signal<Option<String>> {
        let path = path.to_owned();
        Signal::derive(move || {
            self.0
                .with(|problem| problem.as_ref().and_then(|problem| about(problem, &path)))
        })
    }
}

/// What `problem` says about the field at `path`, if it is about that field
/// or a part of it (`ports` for `ports[1].published`, naming the part).
fn about(problem: &FieldError, path: &str) -> Option<String> {
    let rest = problem.field.strip_prefix(path)?;
    if rest.is_empty() {
        Some(sentence(&problem.message))
    } else if rest.starts_with(['.', '[']) {
        Some(format!("{}: {}", problem.field, problem.message))
    } else {
        None
    }
}

fn use_problem() -> Problem {
    use_context::<Problem>().expect("the service form provides its problem to its fields")
}

/// A labelled field with its hint and its error. The input inside is
/// `child`, marked invalid while the error shows.
#[component]
pub fn Field(
    #[prop(into)] id: String,
    label: &'static str,
    #[prop(into)] path: String,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] wide: bool,
    children: Children,
) -> impl IntoView {
    let message = use_problem().message_for(&path);
    let error_id = format!("{id}-error");
    view! {
        <div class="field" class:wide=wide class:invalid=move || message.with(Option::is_some)>
            <label for=id.clone()>{label}</label>
            {children()}
            {(!hint.is_empty()).then(|| view! { <p class="hint">{hint}</p> })}
            {move || message.get().map(|message| view! { <p class="field-error" id=error_id.clone()>{message}</p> })}
        </div>
    }
}

/// A text input, or a text area of `lines` lines, marked invalid while the
/// problem is about `path` (no path: never). Numbers are typed as text too:
/// the form's own message beats the browser's silent refusal, and what was
/// typed stays visible.
#[component]
pub fn TextInput(
    #[prop(into)] id: String,
    #[prop(optional, into)] path: String,
    value: Bound<String>,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] numeric: bool,
    #[prop(optional)] lines: u8,
    #[prop(optional)] label: &'static str,
) -> impl IntoView {
    let (read, write) = value;
    let message = (!path.is_empty()).then(|| use_problem().message_for(&path));
    let invalid = move || {
        message
            .is_some_and(|message| message.with(Option::is_some))
            .then_some("true")
    };
    let label = (!label.is_empty()).then_some(label);
    if lines > 0 {
        view! {
            <textarea
                id=id
                rows=lines
                placeholder=placeholder
                aria-label=label
                aria-invalid=invalid
                spellcheck="false"
                prop:value=read
                on:input=move |ev| write.set(event_target_value(&ev))
            >
                {read.get_untracked()}
            </textarea>
        }
        .into_any()
    } else {
        view! {
            <input
                id=id
                placeholder=placeholder
                aria-label=label
                aria-invalid=invalid
                inputmode=numeric.then_some("decimal")
                autocomplete="off"
                spellcheck="false"
                // The attribute for the server render, the property after.
                value=read.get_untracked()
                prop:value=read
                on:input=move |ev| write.set(event_target_value(&ev))
            />
        }
        .into_any()
    }
}

/// [`Field`] around a [`TextInput`]: the common case.
#[component]
pub fn TextField(
    #[prop(into)] id: String,
    label: &'static str,
    #[prop(into)] path: String,
    value: Bound<String>,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] numeric: bool,
    #[prop(optional)] lines: u8,
) -> impl IntoView {
    view! {
        <Field id=id.clone() label path=path.clone() hint wide={lines > 0}>
            <TextInput id path value placeholder numeric lines />
        </Field>
    }
}

/// The values of a spec enum a `<select>` offers, with the spec's own
/// spelling.
pub trait Choice: Copy + PartialEq + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
}

macro_rules! choices {
    ($($ty:ty { $($variant:path => $name:literal),+ $(,)? })+) => {
        $(impl Choice for $ty {
            const ALL: &'static [Self] = &[$($variant),+];
            fn name(self) -> &'static str {
                match self { $($variant => $name),+ }
            }
        })+
    };
}

choices! {
    Mode { Mode::Replicated => "replicated", Mode::Global => "global" }
    Protocol { Protocol::Tcp => "tcp", Protocol::Udp => "udp" }
    PublishMode { PublishMode::Ingress => "ingress", PublishMode::Host => "host" }
    RestartCondition {
        RestartCondition::Any => "any",
        RestartCondition::OnFailure => "on-failure",
        RestartCondition::None => "none",
    }
    PullPolicy { PullPolicy::Missing => "missing", PullPolicy::Always => "always", PullPolicy::Never => "never" }
    FailureAction {
        FailureAction::Pause => "pause",
        FailureAction::Continue => "continue",
        FailureAction::Rollback => "rollback",
    }
    UpdateOrder { UpdateOrder::StopFirst => "stop-first", UpdateOrder::StartFirst => "start-first" }
    HealthKind {
        HealthKind::Image => "the image's own",
        HealthKind::Command => "CMD: a program",
        HealthKind::Shell => "CMD-SHELL: a shell command",
        HealthKind::Off => "NONE: no health check",
    }
    ProbeType { ProbeType::Off => "none", ProbeType::Http => "http", ProbeType::Tcp => "tcp" }
}

#[component]
pub fn ChoiceSelect<T: Choice>(
    #[prop(into)] id: String,
    value: Bound<T>,
    #[prop(optional)] label: &'static str,
) -> impl IntoView {
    let (read, write) = value;
    let options = T::ALL
        .iter()
        .map(|choice| {
            let choice = *choice;
            view! { <option value=choice.name() selected=move || read.get() == choice>{choice.name()}</option> }
        })
        .collect_view();
    view! {
        <select
            id=id
            aria-label=(!label.is_empty()).then_some(label)
            on:change=move |ev| {
                let picked = event_target_value(&ev);
                if let Some(choice) = T::ALL.iter().find(|choice| choice.name() == picked) {
                    write.set(*choice);
                }
            }
        >
            {options}
        </select>
    }
}

/// [`Field`] around a [`ChoiceSelect`].
#[component]
pub fn ChoiceField<T: Choice>(
    #[prop(into)] id: String,
    label: &'static str,
    #[prop(into)] path: String,
    value: Bound<T>,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    view! {
        <Field id=id.clone() label path hint>
            <ChoiceSelect id value />
        </Field>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_shows_at_its_field_and_at_the_group_around_it() {
        let problem = FieldError::new("ports[1].published", "a published port is 1 to 65535");
        assert_eq!(
            about(&problem, "ports[1].published").as_deref(),
            Some("A published port is 1 to 65535.")
        );
        assert_eq!(
            about(&problem, "ports").as_deref(),
            Some("ports[1].published: a published port is 1 to 65535")
        );
        assert_eq!(about(&problem, "ports[1].target"), None);
        assert_eq!(about(&FieldError::new("replicas_x", "m"), "replicas"), None);
    }
}
