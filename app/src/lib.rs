//! The Shoal console. Compiled twice: with `ssr` inside `shoal-server`, and
//! with `hydrate` into the wasm bundle that makes the rendered pages live.
#![recursion_limit = "256"]

#[cfg(feature = "ssr")]
pub mod backend;
mod browser;
mod components;
mod format;
mod pages;
pub mod rpc;
mod url;

use leptos::prelude::*;
use leptos_meta::{Stylesheet, Title, provide_meta_context};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};
use shoal_proto::auth::Role;

use components::{
    auth::{Auth, RequireRole},
    layout::Layout,
};
use pages::{
    audit::AuditLogPage,
    cluster::ClusterPage,
    dashboard::Dashboard,
    login::LoginPage,
    nodes::NodesPage,
    not_found::NotFound,
    services::{EditServicePage, NewServicePage, ServicePage, ServicesPage},
    setup::SetupPage,
    tokens::TokensPage,
    users::UsersPage,
};

/// The HTML document around the app, rendered on the server only.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    use components::auth::{SIGNED_IN_META, signed_in_meta};
    use leptos_meta::MetaTags;

    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
                <meta name=SIGNED_IN_META content=signed_in_meta() />
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
    Auth::provide();

    view! {
        <Stylesheet id="leptos" href="/pkg/shoal.css" />
        <Title formatter=|page: String| format!("{page} · Shoal") />
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("login") view=LoginPage />
                    <Route path=path!("setup") view=SetupPage />
                    <Route
                        path=path!("")
                        view=|| view! { <RequireRole role=Role::Viewer><Dashboard /></RequireRole> }
                    />
                    <Route
                        path=path!("nodes")
                        view=|| view! { <RequireRole role=Role::Viewer><NodesPage /></RequireRole> }
                    />
                    <Route
                        path=path!("cluster")
                        view=|| view! { <RequireRole role=Role::Viewer><ClusterPage /></RequireRole> }
                    />
                    <Route
                        path=path!("services")
                        view=|| view! { <RequireRole role=Role::Viewer><ServicesPage /></RequireRole> }
                    />
                    <Route
                        path=path!("services/new")
                        view=|| view! { <RequireRole role=Role::Operator><NewServicePage /></RequireRole> }
                    />
                    <Route
                        path=path!("services/:id")
                        view=|| view! { <RequireRole role=Role::Viewer><ServicePage /></RequireRole> }
                    />
                    <Route
                        path=path!("services/:id/edit")
                        view=|| view! { <RequireRole role=Role::Operator><EditServicePage /></RequireRole> }
                    />
                    <Route
                        path=path!("tokens")
                        view=|| view! { <RequireRole role=Role::Viewer><TokensPage /></RequireRole> }
                    />
                    <Route
                        path=path!("users")
                        view=|| view! { <RequireRole role=Role::Admin><UsersPage /></RequireRole> }
                    />
                    <Route
                        path=path!("audit")
                        view=|| view! { <RequireRole role=Role::Admin><AuditLogPage /></RequireRole> }
                    />
                </Routes>
            </Layout>
        </Router>
    }
}
