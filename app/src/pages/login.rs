use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{
        auth::{LeaveWhenLoggedIn, use_auth},
        form_error::{FormError, failure},
    },
    rpc::Login,
    url,
};

/// The login form. A plain form post, so it works before the page is
/// interactive; afterwards it stays on the page and shows the server's
/// answer (wrong credentials, "try again in N s").
#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let login = ServerAction::<Login>::new();
    let next = use_query_map().with_untracked(|query| url::local_path(query.get_str("next")));
    // The new session cookie is in place: loading the user again lets the
    // layout show the menu and `LeaveWhenLoggedIn` move on to `next`.
    Effect::new(move |_| {
        if let Some(Ok(me)) = login.value().get() {
            auth.signed_in(me);
        }
    });

    view! {
        <Title text="Log in" />
        <LeaveWhenLoggedIn to=next />
        <section class="auth-page">
            <div class="auth-card">
                <h1>"Log in to Shoal"</h1>
                <ActionForm action=login>
                    <div class="field">
                        <label for="login-username">"Username"</label>
                        <input
                            id="login-username"
                            name="username"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            required
                            autofocus
                        />
                    </div>
                    <div class="field">
                        <label for="login-password">"Password"</label>
                        <input
                            id="login-password"
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                        />
                    </div>
                    <FormError message=failure(login.value()) id="login-error" />
                    <button type="submit" id="login-submit" class="button wide" disabled=login.pending()>
                        {move || if login.pending().get() { "Logging in…" } else { "Log in" }}
                    </button>
                </ActionForm>
            </div>
        </section>
    }
}
