use leptos::prelude::*;
use leptos_router::components::A;
use shoal_proto::auth::Role;

use super::{auth::use_auth, user_menu::UserMenu};
use crate::browser;

/// The frame of every page: a header with the user menu, a navigation
/// sidebar that folds away, and the page itself. Visitors who are not logged
/// in see neither menu nor links.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let auth = use_auth();
    let (nav_open, set_nav_open) = signal(true);
    // Effects run only in the browser, so this attribute tells users and
    // tests alike that the wasm bundle has taken over the page; the timing
    // mark says how long after navigation that happened.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| {
        set_hydrated.set(true);
        browser::mark_timing("shoal-interactive");
    });

    view! {
        <div
            class="app"
            class:nav-collapsed=move || !nav_open.get()
            data-hydrated=move || if hydrated.get() { "true" } else { "false" }
        >
            <header class="topbar">
                <button
                    id="nav-toggle"
                    class="icon-button"
                    aria-controls="sidebar"
                    aria-expanded=move || nav_open.get().to_string()
                    title="Show or hide the navigation"
                    on:click=move |_| set_nav_open.update(|open| *open = !*open)
                >
                    "☰"
                </button>
                <A href="/" attr:class="brand">
                    "Shoal"
                </A>
                <span class="spacer"></span>
                {move || auth.get().map(|me| view! { <UserMenu me /> })}
            </header>
            <nav id="sidebar" class="sidebar" aria-label="Main">
                {move || auth.get().map(|me| view! { <NavLinks role=me.role /> })}
            </nav>
            <main class="content">{children()}</main>
        </div>
    }
}

/// The pages this role may use; the others are not offered.
#[component]
fn NavLinks(role: Role) -> impl IntoView {
    view! {
        <A href="/" exact=true attr:id="nav-dashboard">
            "Dashboard"
        </A>
        <A href="/services" attr:id="nav-services">
            "Services"
        </A>
        <A href="/networks" attr:id="nav-networks">
            "Networks"
        </A>
        <A href="/nodes" attr:id="nav-nodes">
            "Nodes"
        </A>
        <A href="/cluster" attr:id="nav-cluster">
            "Cluster"
        </A>
        <A href="/tokens" attr:id="nav-tokens">
            "My tokens"
        </A>
        {(role >= Role::Admin)
            .then(|| {
                view! {
                    <p class="nav-section">"Administration"</p>
                    <A href="/users" attr:id="nav-users">
                        "Users"
                    </A>
                    <A href="/audit" attr:id="nav-audit">
                        "Audit log"
                    </A>
                }
            })}
    }
}
