//! The HTTP surface: health, the REST API, server functions and the console.

mod error;
mod health;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{FromRef, State},
    http::Request,
    response::IntoResponse,
    routing::{any, get},
};
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list, handle_server_fns_with_context};
use shoal_app::{App, backend::SharedBackend, shell};
use tower_http::trace::TraceLayer;

use crate::store::Store;
pub use error::ApiError;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: SharedBackend,
    pub store: Store,
}

pub fn router(state: AppState) -> Router {
    let backend = state.backend.clone();
    let provide_backend = move || provide_context::<SharedBackend>(Arc::clone(&backend));
    let routes = generate_route_list(App);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api", any(api_not_found))
        .route("/api/{*path}", any(api_not_found))
        .route("/rpc/{*fn_name}", any(server_fn))
        .leptos_routes_with_context(&state, routes, provide_backend.clone(), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            provide_backend,
            shell,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn server_fn(State(state): State<AppState>, request: Request<Body>) -> impl IntoResponse {
    let backend = state.backend.clone();
    handle_server_fns_with_context(
        move || provide_context::<SharedBackend>(Arc::clone(&backend)),
        request,
    )
    .await
}

async fn api_not_found(request: Request<Body>) -> ApiError {
    ApiError::NotFound(format!(
        "no API endpoint {} {}; the API lives under /api/v1",
        request.method(),
        request.uri().path()
    ))
}
