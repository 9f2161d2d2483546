//! The Shoal console. Compiled twice: with `ssr` inside `shoal-server`, and
//! with `hydrate` into the wasm bundle that makes the rendered pages live.
#![recursion_limit = "256"]

#[cfg(feature = "ssr")]
pub mod backend;
mod browser;
mod components;
#[cfg(feature = "ssr")]
mod content_policy;
mod format;
mod pages;
pub mod rpc;
mod url;

use leptos::prelude::*;
use leptos_meta::{Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, LazyRoute,
    components::{Route, Router, Routes},
    lazy_route, path,
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
    networks::NetworksPage,
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

    content_policy::send();
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
                    <Route path=path!("services/new") view={Lazy::<NewServiceRoute>::new()} />
                    <Route
                        path=path!("services/:id")
                        view=|| view! { <RequireRole role=Role::Viewer><ServicePage /></RequireRole> }
                    />
                    <Route path=path!("services/:id/edit") view={Lazy::<EditServiceRoute>::new()} />
                    <Route path=path!("networks") view={Lazy::<NetworksRoute>::new()} />
                    <Route path=path!("tokens") view={Lazy::<TokensRoute>::new()} />
                    <Route path=path!("users") view={Lazy::<UsersRoute>::new()} />
                    <Route path=path!("audit") view={Lazy::<AuditRoute>::new()} />
                </Routes>
            </Layout>
        </Router>
    }
}

// Pages opened now and then: each is a lazy route, whose code `cargo leptos
// build --split` moves into a wasm file of its own that the browser fetches
// when the page is first shown (a direct load preloads it), so the bundle
// every page waits for stays small. One `impl` each: the macro names a
// chunk after the place it is written.

struct NewServiceRoute;

#[lazy_route]
impl LazyRoute for NewServiceRoute {
    fn data() -> Self {
        Self
    }

    fn view(_route: Self) -> AnyView {
        view! { <RequireRole role=Role::Operator><NewServicePage /></RequireRole> }.into_any()
    }
}

struct EditServiceRoute;

#[lazy_route]
impl LazyRoute for EditServiceRoute {
    fn data() -> Self {
        Self
    }

    fn view(_route: Self) -> AnyView {
        view! { <RequireRole role=Role::Operator><EditServicePage /></RequireRole> }.into_any()
    }
}

struct NetworksRoute;

#[lazy_route]
impl LazyRoute for NetworksRoute {
    fn data() -> Self {
        Self
    }

    fn view(_route: Self) -> AnyView {
        view! { <RequireRole role=Role::Viewer><NetworksPage /></RequireRole> }.into_any()
    }
}

struct TokensRoute;

#[lazy_route]
impl LazyRoute for TokensRoute {
    fn data() -> Self {
        Self
    }

    fn view(_route: Self) -> AnyView {
        view! { <RequireRole role=Role::Viewer><TokensPage /></RequireRole> }.into_any()
    }
}

struct UsersRoute;

#[lazy_route]
impl LazyRoute for UsersRoute {
    fn data() -> Self {
        Self
    }

    fn view(_route: Self) -> AnyView {
        view! { <RequireRole role=Role::Admin><UsersPage /></RequireRole> }.into_any()
    }
}

struct AuditRoute;

#[lazy_route]
impl LazyRoute for AuditRoute {
    fn data() -> Self {
        Self
    }

    fn view(_route: Self) -> AnyView {
        view! { <RequireRole role=Role::Admin><AuditLogPage /></RequireRole> }.into_any()
    }
}
