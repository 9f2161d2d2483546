//! Who is logged in, shared by every page, and the guards that keep pages
//! from the wrong visitors. The guards are a courtesy: the server checks the
//! role of every call on its own.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{NavigateOptions, components::Redirect, hooks::use_location};
use shoal_proto::auth::{Me, Role};

use crate::url;

/// The `<meta>` in the page's head that carries the logged-in user from the
/// server's render to the browser.
pub const SIGNED_IN_META: &str = "shoal-signed-in";

/// The logged-in user, known from the first line the page renders: the
/// server resolves the session before rendering and writes the user into
/// the page's head, where the browser reads it before hydrating. Nothing
/// waits for it, so the pages under the guards are built once, in the same
/// order on both sides, and their resources hydrate from the right data.
#[derive(Clone, Copy)]
pub struct Auth {
    me: RwSignal<Option<Me>>,
}

impl Auth {
    pub fn provide() {
        provide_context(Auth {
            me: RwSignal::new(signed_in_at_load()),
        });
    }

    /// A login or setup has just made a session for `me`.
    pub fn signed_in(self, me: Me) {
        self.me.set(Some(me));
    }

    /// The user as last known, without subscribing: the guards rebuild the
    /// pages below them when the user changes.
    pub fn current(self) -> Option<Me> {
        self.me.get_untracked()
    }

    /// The user, subscribing the caller to changes.
    pub fn get(self) -> Option<Me> {
        self.me.get()
    }
}

/// The user the server resolved for this request (see `backend::SignedIn`).
#[cfg(feature = "ssr")]
fn signed_in_at_load() -> Option<Me> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::backend::SignedIn>().cloned())
        .and_then(|signed_in| signed_in.0)
}

/// The user the server wrote into the page's head.
#[cfg(not(feature = "ssr"))]
fn signed_in_at_load() -> Option<Me> {
    let meta = document()
        .query_selector(&format!("meta[name='{SIGNED_IN_META}']"))
        .ok()
        .flatten()?;
    serde_json::from_str(&meta.get_attribute("content")?).ok()
}

/// The `content` of the head's `<meta>` for the user of this request.
#[cfg(feature = "ssr")]
pub fn signed_in_meta() -> String {
    serde_json::to_string(&signed_in_at_load()).unwrap_or_else(|_| "null".to_owned())
}

pub fn use_auth() -> Auth {
    use_context::<Auth>().expect("App provides Auth to every page")
}

fn replace() -> NavigateOptions {
    NavigateOptions {
        replace: true,
        ..Default::default()
    }
}

/// Shows its children to users with at least `role`, sends visitors who are
/// not logged in to the login page (coming back here afterwards), and tells
/// everyone else which role they lack. `Role::Viewer` means "any logged-in
/// user".
#[component]
pub fn RequireRole(role: Role, children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    let location = use_location();
    let here = location.pathname.with_untracked(|path| {
        location.search.with_untracked(|search| match search.as_str() {
            "" => path.clone(),
            search => format!("{path}?{search}"),
        })
    });
    let login = url::login_then(&here);
    // A full page load is answered with a real `302`, before the first byte.
    #[cfg(feature = "ssr")]
    if auth.current().is_none() {
        leptos_axum::redirect(&login);
    }

    move || match auth.get() {
        Some(me) if me.role >= role => children().into_any(),
        Some(_) => view! { <Forbidden role /> }.into_any(),
        None => view! { <Redirect path=login.clone() options=replace() /> }.into_any(),
    }
}

#[component]
fn Forbidden(role: Role) -> impl IntoView {
    view! {
        <Title text="Not allowed" />
        <section class="page">
            <div class="notice" id="forbidden">
                <h1>"Not allowed"</h1>
                <p>{format!("You need the {role} role to see this page.")}</p>
                <p class="muted">"Ask an admin of this cluster if you need it."</p>
            </div>
        </section>
    }
}

/// For pages a logged-in user has no use for (login, setup): sends them on
/// to `to` as soon as someone is logged in, including right after the form
/// on the page logged them in.
#[component]
pub fn LeaveWhenLoggedIn(to: String) -> impl IntoView {
    let auth = use_auth();
    #[cfg(feature = "ssr")]
    if auth.current().is_some() {
        leptos_axum::redirect(&to);
    }

    move || {
        auth.get()
            .is_some()
            .then(|| view! { <Redirect path=to.clone() options=replace() /> })
    }
}
