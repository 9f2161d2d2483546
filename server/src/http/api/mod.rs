//! The REST API under `/api/v1`. Every route is declared in [`routes`] with
//! who may call it; the router applies that check before the handler runs,
//! and the access-matrix test walks the same table, so a route cannot be
//! added without a decision about its access.

mod accounts;
mod dashboard;
mod events;
mod networks;
mod nodes;
mod services;
mod webhooks;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::Method,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{MethodRouter, delete, get, patch, post, put},
};
use shoal_proto::auth::Role;

use super::AppState;
use crate::auth::{Access, Caller, authorize};

/// API bodies are small JSON documents; anything bigger is a mistake or an attack.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct ApiRoute {
    pub method: &'static str,
    /// In axum's syntax, e.g. `/api/v1/users/{id}`.
    pub path: &'static str,
    pub access: Access,
}

const VIEWER: Access = Access::Min(Role::Viewer);
const OPERATOR: Access = Access::Min(Role::Operator);
const ADMIN: Access = Access::Min(Role::Admin);

/// Every REST route with its access rule and its handler.
pub fn routes() -> Vec<(ApiRoute, MethodRouter<AppState>)> {
    let route = |method, path, access| ApiRoute { method, path, access };
    vec![
        (
            route("POST", "/api/v1/session", Access::Public),
            post(accounts::login),
        ),
        (
            route("DELETE", "/api/v1/session", Access::Public),
            delete(accounts::logout),
        ),
        (route("GET", "/api/v1/me", VIEWER), get(accounts::me)),
        (route("GET", "/api/v1/status", VIEWER), get(accounts::status)),
        (route("GET", "/api/v1/dashboard", VIEWER), get(dashboard::summary)),
        (route("GET", "/api/v1/users", ADMIN), get(accounts::list_users)),
        (route("POST", "/api/v1/users", ADMIN), post(accounts::create_user)),
        (route("GET", "/api/v1/users/{id}", ADMIN), get(accounts::get_user)),
        (
            route("PATCH", "/api/v1/users/{id}", ADMIN),
            patch(accounts::update_user),
        ),
        (
            route("DELETE", "/api/v1/users/{id}", ADMIN),
            delete(accounts::delete_user),
        ),
        (route("GET", "/api/v1/tokens", VIEWER), get(accounts::list_tokens)),
        (
            route("POST", "/api/v1/tokens", VIEWER),
            post(accounts::create_token),
        ),
        (
            route("DELETE", "/api/v1/tokens/{id}", VIEWER),
            delete(accounts::revoke_token),
        ),
        (route("GET", "/api/v1/audit", ADMIN), get(accounts::audit)),
        (route("GET", "/api/v1/nodes", VIEWER), get(nodes::list)),
        (route("GET", "/api/v1/nodes/{id}", VIEWER), get(nodes::get)),
        (
            route("PATCH", "/api/v1/nodes/{id}", OPERATOR),
            patch(nodes::update),
        ),
        (
            route("DELETE", "/api/v1/nodes/{id}", ADMIN),
            delete(nodes::remove),
        ),
        (
            route("POST", "/api/v1/nodes/{id}/role", ADMIN),
            post(nodes::set_role),
        ),
        (
            route("GET", "/api/v1/join-tokens", ADMIN),
            get(nodes::join_tokens),
        ),
        (
            route("POST", "/api/v1/join-tokens/{id}/rotate", ADMIN),
            post(nodes::rotate_join_token),
        ),
        (route("GET", "/api/v1/services", VIEWER), get(services::list)),
        (
            route("POST", "/api/v1/services", OPERATOR),
            post(services::create),
        ),
        (route("GET", "/api/v1/services/{id}", VIEWER), get(services::get)),
        (
            route("PUT", "/api/v1/services/{id}", OPERATOR),
            put(services::update),
        ),
        (
            route("DELETE", "/api/v1/services/{id}", OPERATOR),
            delete(services::delete),
        ),
        (
            route("POST", "/api/v1/services/{id}/scale", OPERATOR),
            post(services::scale),
        ),
        (
            route("GET", "/api/v1/services/{id}/revisions", VIEWER),
            get(services::revisions),
        ),
        (
            route("GET", "/api/v1/services/{id}/revisions/diff", VIEWER),
            get(services::diff),
        ),
        (
            route("POST", "/api/v1/services/{id}/rollback", OPERATOR),
            post(services::rollback),
        ),
        (
            route("GET", "/api/v1/services/{id}/rollouts", VIEWER),
            get(services::rollouts),
        ),
        (
            route("GET", "/api/v1/rollouts/{id}", VIEWER),
            get(services::rollout),
        ),
        (
            route("POST", "/api/v1/rollouts/{id}/pause", OPERATOR),
            post(services::pause),
        ),
        (
            route("POST", "/api/v1/rollouts/{id}/resume", OPERATOR),
            post(services::resume),
        ),
        (
            route("POST", "/api/v1/rollouts/{id}/abort", OPERATOR),
            post(services::abort),
        ),
        (
            route("GET", "/api/v1/services/{id}/ingress", VIEWER),
            get(services::ingress),
        ),
        (
            route("GET", "/api/v1/services/{id}/webhooks", OPERATOR),
            get(webhooks::list),
        ),
        (
            route("POST", "/api/v1/services/{id}/webhooks", OPERATOR),
            post(webhooks::create),
        ),
        (
            route("GET", "/api/v1/webhooks/{id}", OPERATOR),
            get(webhooks::get),
        ),
        (
            route("PATCH", "/api/v1/webhooks/{id}", OPERATOR),
            patch(webhooks::update),
        ),
        (
            route("DELETE", "/api/v1/webhooks/{id}", OPERATOR),
            delete(webhooks::delete),
        ),
        (
            route("POST", "/api/v1/webhooks/{id}/rotate", OPERATOR),
            post(webhooks::rotate),
        ),
        (
            route("GET", "/api/v1/webhooks/{id}/deliveries", OPERATOR),
            get(webhooks::deliveries),
        ),
        (route("GET", "/api/v1/networks", VIEWER), get(networks::list)),
        (
            route("POST", "/api/v1/networks", OPERATOR),
            post(networks::create),
        ),
        (route("GET", "/api/v1/networks/{id}", VIEWER), get(networks::get)),
        (
            route("DELETE", "/api/v1/networks/{id}", OPERATOR),
            delete(networks::delete),
        ),
        (route("GET", "/api/v1/tasks", VIEWER), get(services::tasks)),
        (route("GET", "/api/v1/tasks/{id}", VIEWER), get(services::task)),
        (route("GET", "/api/v1/events", VIEWER), get(events::stream)),
    ]
}

/// The route table without handlers, for documentation and tests.
pub fn table() -> Vec<ApiRoute> {
    routes().into_iter().map(|(route, _)| route).collect()
}

pub fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (route, handler)| {
            debug_assert!(route.method.parse::<Method>().is_ok());
            let access = route.access;
            let guarded = handler.route_layer(middleware::from_fn(move |request: Request, next: Next| {
                enforce(access, request, next)
            }));
            router.route(route.path, guarded)
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

async fn enforce(access: Access, request: Request, next: Next) -> Response {
    let Some(caller) = request.extensions().get::<Caller>() else {
        return crate::error::AppError::Internal("no caller resolved for an API route".into())
            .into_response();
    };
    match authorize(caller, access) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}
