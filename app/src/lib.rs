//! The Shoal console. Compiled twice: with `ssr` inside `shoal-server`, and
//! with `hydrate` into the wasm bundle that makes the rendered pages live.
#![recursion_limit = "256"]

#[cfg(feature = "ssr")]
pub mod backend;
mod components;
mod pages;
pub mod rpc;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use components::layout::Layout;
use pages::{dashboard::Dashboard, not_found::NotFound};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/shoal.css" />
        <Title formatter=|page: String| format!("{page} · Shoal") />
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("") view=Dashboard />
                </Routes>
            </Layout>
        </Router>
    }
}
