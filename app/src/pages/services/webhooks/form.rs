//! The form that creates a webhook, checked as the server checks it.

use leptos::{ev::SubmitEvent, prelude::*};
use shoal_proto::{
    FieldError,
    webhook::{NewWebhook, check_pattern, check_webhook_name, default_pattern},
};

use crate::{
    components::form_error::{FormError, failure, sentence},
    pages::services::fields::{Field, Problem, TextInput, field_error_of},
    rpc::CreateWebhook,
};

/// The server names the field it refuses as `name: …` or `allow: …`; any
/// other refusal is about the whole form.
fn problem_of(message: &str) -> FieldError {
    match field_error_of(message) {
        problem if ["name", "allow"].contains(&problem.field.as_str()) => problem,
        _ => FieldError::new("", message),
    }
}

/// What the form asks the server for, checked as the server will check it
/// (the pattern only once the service's image is known).
fn new_webhook(name: &str, allow: &str, signed: bool, image: Option<&str>) -> Result<NewWebhook, FieldError> {
    let name = check_webhook_name(name)?;
    let allow = match (allow.trim(), image) {
        ("", _) => None,
        (pattern, Some(image)) => Some(check_pattern(pattern, image)?),
        (pattern, None) => Some(pattern.to_owned()),
    };
    Ok(NewWebhook { name, allow, signed })
}

#[component]
pub(super) fn NewWebhookForm(
    service: String,
    create: ServerAction<CreateWebhook>,
    image: RwSignal<Option<String>>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let allow = RwSignal::new(String::new());
    let signed = RwSignal::new(false);
    // Set by the last submit's own checks; while it holds, the server's
    // (older) answer is not shown.
    let own_problem = RwSignal::new(None::<FieldError>);
    let server_error = failure(create.value());
    let problem = Signal::derive(move || {
        own_problem
            .get()
            .or_else(|| server_error.get().map(|message| problem_of(&message)))
    });
    provide_context(Problem(problem));
    let whole_form = Signal::derive(move || {
        problem
            .get()
            .filter(|problem| problem.field.is_empty())
            .map(|problem| sentence(&problem.message))
    });
    let allow_invalid = move || {
        problem
            .with(|problem| problem.as_ref().is_some_and(|problem| problem.field == "allow"))
            .then_some("true")
    };
    let placeholder = move || image.with(|image| default_pattern(image.as_deref().unwrap_or("repository")));
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            name.set(String::new());
            allow.set(String::new());
            signed.set(false);
        }
    });

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let checked = image.with_untracked(|image| {
            new_webhook(
                &name.get_untracked(),
                &allow.get_untracked(),
                signed.get_untracked(),
                image.as_deref(),
            )
        });
        match checked {
            Ok(new) => {
                own_problem.set(None);
                create.dispatch(CreateWebhook {
                    service: service.clone(),
                    new,
                });
            }
            Err(problem) => own_problem.set(Some(problem)),
        }
    };

    view! {
        <form class="panel form-grid webhook-form" id="webhook-form" on:submit=submit novalidate>
            <h3>"New webhook"</h3>
            <Field id="webhook-name" label="Name" path="name" hint="Who sends, e.g. registry or ci.">
                <TextInput id="webhook-name" path="name" value=(name.into(), name.into()) placeholder="ci" />
            </Field>
            <Field
                id="webhook-allow"
                label="Allowed images"
                path="allow"
                hint="repository:tag, * for any characters. Empty: any tag of the service's repository."
            >
                <input
                    id="webhook-allow"
                    placeholder=placeholder
                    aria-invalid=allow_invalid
                    autocomplete="off"
                    spellcheck="false"
                    bind:value=allow
                />
            </Field>
            <div class="field">
                <label class="checkbox" for="webhook-signed">
                    <input id="webhook-signed" type="checkbox" bind:checked=signed />
                    "Sign deliveries (HMAC)"
                </label>
                <p class="hint">
                    "Senders must also send X-Hub-Signature-256, an HMAC-SHA256 of the body with a second secret."
                </p>
            </div>
            <FormError message=whole_form id="webhook-form-error" />
            <div class="form-actions">
                <button type="submit" class="button" id="webhook-submit" disabled=create.pending()>
                    "Create webhook"
                </button>
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_refusals_land_at_their_field() {
        assert_eq!(
            problem_of("allow: say which tags are allowed"),
            FieldError::new("allow", "say which tags are allowed")
        );
        assert_eq!(problem_of("name: taken"), FieldError::new("name", "taken"));
        assert_eq!(
            problem_of("no service named web"),
            FieldError::new("", "no service named web")
        );
        assert_eq!(problem_of("names: x"), FieldError::new("", "names: x"));
    }

    #[test]
    fn the_form_checks_what_the_server_checks() {
        let image = Some("registry.local/web:v1");
        let new = new_webhook(" ci ", " ", true, image).unwrap();
        assert_eq!(
            new,
            NewWebhook {
                name: "ci".into(),
                allow: None,
                signed: true
            }
        );
        assert_eq!(
            new_webhook("ci", "registry.local/web:v*", false, image)
                .unwrap()
                .allow
                .as_deref(),
            Some("registry.local/web:v*")
        );
        assert_eq!(new_webhook("", "", false, image).unwrap_err().field, "name");
        assert_eq!(
            new_webhook("ci", "other:*", false, image).unwrap_err().field,
            "allow"
        );
        // Before the service has loaded, the server alone judges the pattern.
        assert!(new_webhook("ci", "other:*", false, None).is_ok());
    }
}
