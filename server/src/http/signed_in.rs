//! Who a console page is rendered for, resolved before the render starts.
//! The console's guards and menus read it without waiting (see
//! `shoal_app::components::auth`): a page built while waiting for the user
//! is built more than once on the server and hydrates from the wrong data.

use axum::{
    body::Body,
    http::{Method, Request},
    middleware::Next,
    response::Response,
};
use shoal_app::backend::SignedIn;

use crate::auth::Caller;

/// Requests that never render a page: the API, server functions, assets,
/// health and webhooks.
fn renders_no_page(path: &str) -> bool {
    ["/api/", "/rpc/", "/pkg/", "/hooks/", "/healthz"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Attaches [`SignedIn`] to every page request, from the [`Caller`] that
/// authentication attached (with the account it loaded).
pub async fn attach(mut request: Request<Body>, next: Next) -> Response {
    if request.method() == Method::GET && !renders_no_page(request.uri().path()) {
        let me = request
            .extensions()
            .get::<Caller>()
            .and_then(|caller| crate::ops::session::me(caller).ok().flatten());
        request.extensions_mut().insert(SignedIn(me));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::renders_no_page;

    #[test]
    fn pages_are_told_from_the_api_and_assets() {
        for path in ["/", "/services/abc", "/login", "/no/such/page"] {
            assert!(!renders_no_page(path), "{path}");
        }
        for path in [
            "/api/v1/me",
            "/rpc/get_me",
            "/pkg/shoal.wasm",
            "/hooks/x",
            "/healthz",
        ] {
            assert!(renders_no_page(path), "{path}");
        }
    }
}
