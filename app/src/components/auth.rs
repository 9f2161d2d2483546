//! Who is logged in, shared by every page, and the guards that keep pages
//! from the wrong visitors. The guards are a courtesy: the server checks the
//! role of every call on its own.

use leptos::prelude::*;
use leptos_router::{NavigateOptions, components::Redirect, hooks::use_location};
use shoal_proto::auth::{Me, Role};

use crate::{components::form_error::user_message, rpc::get_me, url};

type MeResource = Resource<Result<Option<Me>, ServerFnError>>;

/// The logged-in user, loaded once per page load.
#[derive(Clone, Copy)]
pub struct Auth {
    me: MeResource,
}

impl Auth {
    pub fn provide() {
        provide_context(Auth {
            me: Resource::new(|| (), |_| get_me()),
        });
    }

    /// Loads the user again: a login or setup has just changed the session.
    pub fn refresh(self) {
        self.me.refetch();
    }

    /// The user as last loaded, without subscribing: the guards rebuild the
    /// pages below them when the user changes.
    pub fn current(self) -> Option<Me> {
        self.me.get_untracked().and_then(Result::ok).flatten()
    }

    pub async fn resolve(self) -> Result<Option<Me>, ServerFnError> {
        self.me.await
    }
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
    #[cfg(feature = "ssr")]
    redirect_before_first_byte(auth, false, login.clone());

    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let (children, login) = (children.clone(), login.clone());
                Suspend::new(async move {
                    match auth.resolve().await {
                        Ok(Some(me)) if me.role >= role => children().into_any(),
                        Ok(Some(_)) => view! { <Forbidden role /> }.into_any(),
                        Ok(None) => view! { <Redirect path=login options=replace() /> }.into_any(),
                        Err(error) => {
                            view! { <p class="form-error">{user_message(&error)}</p> }.into_any()
                        }
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn Forbidden(role: Role) -> impl IntoView {
    view! {
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
    redirect_before_first_byte(auth, true, to.clone());

    view! {
        <Transition>
            {move || {
                let to = to.clone();
                Suspend::new(async move {
                    matches!(auth.resolve().await, Ok(Some(_)))
                        .then(|| view! { <Redirect path=to options=replace() /> })
                })
            }}
        </Transition>
    }
}

/// Answers a full page load with a real `302` to `path` when the visitor's
/// logged-in state is `logged_in`. A `<Redirect/>` inside a `<Suspense/>`
/// runs after the status line has been streamed, so the decision is made in
/// a future that the response waits for before its first byte.
#[cfg(feature = "ssr")]
fn redirect_before_first_byte(auth: Auth, logged_in: bool, path: String) {
    use std::future::IntoFuture;

    let (Some(owner), Some(shared)) = (Owner::current(), Owner::current_shared_context()) else {
        return;
    };
    let me = auth.me.into_future();
    shared.defer_stream(Box::pin(async move {
        if let Ok(me) = me.await
            && me.is_some() == logged_in
        {
            owner.with(|| leptos_axum::redirect(&path));
        }
    }));
}
