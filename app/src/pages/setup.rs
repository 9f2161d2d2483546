use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use shoal_proto::auth::{Username, check_new_password};

use crate::{
    components::{
        auth::{LeaveWhenLoggedIn, use_auth},
        form_error::{FormError, failure, sentence, user_message},
    },
    rpc::{SetupAdmin, check_setup_token},
};

/// The first admin's account, from the one-time link the server printed at
/// its first start.
#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = Memo::new(move |_| query.read().get("token").unwrap_or_default());
    let usable = Resource::new(
        move || token.get(),
        |token| async move {
            if token.is_empty() {
                Ok(false)
            } else {
                check_setup_token(token).await
            }
        },
    );

    view! {
        <Title text="Set up" />
        <LeaveWhenLoggedIn to="/".to_owned() />
        <section class="auth-page">
            <div class="auth-card">
                <h1>"Create the first admin"</h1>
                <Suspense fallback=|| view! { <p class="muted">"Checking the setup link…"</p> }>
                    {move || Suspend::new(async move {
                        match usable.await {
                            Ok(true) => view! { <SetupForm token=token.get_untracked() /> }.into_any(),
                            Ok(false) => view! { <UnusableLink /> }.into_any(),
                            Err(error) => {
                                view! { <p class="form-error">{user_message(&error)}</p> }.into_any()
                            }
                        }
                    })}
                </Suspense>
            </div>
        </section>
    }
}

#[component]
fn UnusableLink() -> impl IntoView {
    view! {
        <p class="form-error" id="setup-unusable">
            "This setup link has expired or was already used. Restart the server with an empty database or use "
            <code>"shoal-server admin create"</code>
            "."
        </p>
    }
}

const PASSWORDS_DIFFER: &str = "The two passwords differ.";

/// The problem with the form's values, worded for the person typing them,
/// or the username to create.
fn check_form(username: &str, password: &str, repeated: &str) -> Result<Username, String> {
    let username = Username::parse(username).map_err(|error| sentence(&error.message))?;
    check_new_password(password).map_err(|error| sentence(&error.message))?;
    if password != repeated {
        return Err(PASSWORDS_DIFFER.to_owned());
    }
    Ok(username)
}

#[component]
fn SetupForm(token: String) -> impl IntoView {
    let auth = use_auth();
    let setup = ServerAction::<SetupAdmin>::new();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let repeated = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(me)) = setup.value().get() {
            auth.signed_in(me);
        }
    });
    // Said while typing, so the form is right before it is sent.
    let mismatch = move || {
        let repeated = repeated.get();
        (!repeated.is_empty() && repeated != password.get()).then_some(PASSWORDS_DIFFER)
    };
    let server_error = failure(setup.value());

    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        match check_form(
            &username.get_untracked(),
            &password.get_untracked(),
            &repeated.get_untracked(),
        ) {
            Ok(name) => {
                problem.set(None);
                setup.dispatch(SetupAdmin {
                    token: token.clone(),
                    username: name.to_string(),
                    password: password.get_untracked(),
                });
            }
            // Already said under the field.
            Err(message) if message == PASSWORDS_DIFFER && untrack(mismatch).is_some() => problem.set(None),
            Err(message) => problem.set(Some(message)),
        }
    };

    view! {
        <p class="muted">
            "This account can do everything, including adding the rest of the team. The link works once."
        </p>
        <form on:submit=on_submit novalidate>
            <div class="field">
                <label for="setup-username">"Username"</label>
                <input
                    id="setup-username"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    bind:value=username
                />
                <p class="hint">"Letters a–z, digits, '.', '_' and '-'."</p>
            </div>
            <div class="field">
                <label for="setup-password">"Password"</label>
                <input id="setup-password" type="password" autocomplete="new-password" bind:value=password />
                <p class="hint">{format!("At least {} characters.", shoal_proto::auth::PASSWORD_MIN)}</p>
            </div>
            <div class="field">
                <label for="setup-password2">"Repeat the password"</label>
                <input id="setup-password2" type="password" autocomplete="new-password" bind:value=repeated />
                {move || mismatch().map(|message| view! { <p class="field-error">{message}</p> })}
            </div>
            <FormError message=Signal::derive(move || problem.get().or_else(|| server_error.get())) id="setup-error" />
            <button type="submit" id="setup-submit" class="button wide" disabled=setup.pending()>
                "Create admin and log in"
            </button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::check_form;

    #[test]
    fn the_form_needs_a_valid_name_a_long_password_twice() {
        assert_eq!(
            check_form(" Admin ", "correct horse battery", "correct horse battery")
                .unwrap()
                .as_str(),
            "admin"
        );
        assert!(
            check_form("", "correct horse battery", "correct horse battery")
                .unwrap_err()
                .contains("required")
        );
        assert!(
            check_form("admin", "short", "short")
                .unwrap_err()
                .contains("at least 12")
        );
        assert!(
            check_form("admin", "correct horse battery", "correct horse staple")
                .unwrap_err()
                .contains("differ")
        );
    }
}
