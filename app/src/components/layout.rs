use leptos::prelude::*;
use leptos_router::components::A;

/// The frame of every page: a header, a navigation sidebar that folds away,
/// and the page itself.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let (nav_open, set_nav_open) = signal(true);
    // Effects run only in the browser, so this attribute tells users and
    // tests alike that the wasm bundle has taken over the page.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));

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
            </header>
            <nav id="sidebar" class="sidebar" aria-label="Main">
                <A href="/" exact=true>
                    "Dashboard"
                </A>
            </nav>
            <main class="content">{children()}</main>
        </div>
    }
}
