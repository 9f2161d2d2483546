//! The HTTP surface: health, the REST API, server functions and the console,
//! behind one authentication layer and one same-origin check.

pub mod api;
mod authenticate;
mod error;
mod extract;
mod health;
mod hooks;
pub mod rpc;
mod signed_in;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::FromRef,
    http::{HeaderValue, Request, header},
    middleware,
    response::Response,
    routing::{any, get, post},
};
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use shoal_app::{App, backend::SharedBackend, shell};
use tower_http::trace::TraceLayer;
use tower_sessions::SessionManagerLayer;
use tower_sessions_sqlx_store::SqliteStore;

use crate::{auth::origin, ctx::Ctx, error::AppError};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: SharedBackend,
    pub ctx: Ctx,
}

pub fn router(state: AppState, sessions: SessionManagerLayer<SqliteStore>) -> Router {
    let backend = state.backend.clone();
    let provide_backend = move || provide_context::<SharedBackend>(Arc::clone(&backend));
    let routes = generate_route_list(App);
    Router::new()
        .route("/healthz", get(health::healthz))
        .merge(api::router())
        .route("/api", any(api_not_found))
        .route("/api/{*path}", any(api_not_found))
        .leptos_routes_with_context(&state, routes, provide_backend.clone(), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            provide_backend,
            shell,
        ))
        .layer(middleware::from_fn(rpc::guard))
        .layer(middleware::from_fn_with_state(
            state.ctx.clone(),
            signed_in::attach,
        ))
        .layer(middleware::from_fn_with_state(
            state.ctx.clone(),
            authenticate::caller,
        ))
        .layer(sessions)
        .layer(middleware::from_fn(origin::require_same_origin))
        // Added after the layers above so that none of them applies.
        .route("/hooks/{id}", post(hooks::deliver))
        .layer(middleware::map_response(refuse_framing))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// No other site may show the console in a frame (clickjacking). Pages
/// come with their whole policy, which says so too (see the console's
/// `content_policy`); every other answer gets this part of it.
async fn refuse_framing(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    response
}

/// A request's span names its path but never its query: setup links and
/// some clients carry secrets there (`?token=`).
fn request_span(request: &Request<Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

async fn api_not_found(request: Request<Body>) -> AppError {
    AppError::NotFound(format!(
        "no API endpoint {} {}; the API lives under /api/v1",
        request.method(),
        request.uri().path()
    ))
}
