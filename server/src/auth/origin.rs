//! Same-origin protection for requests a browser could be tricked into
//! sending: every state-changing request that does not carry its own bearer
//! credential must come from the console's own origin.

use axum::{
    extract::Request,
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::AppError;

pub async fn require_same_origin(request: Request, next: Next) -> Response {
    if is_cross_site(request.method(), request.headers()) {
        return AppError::Forbidden(
            "cross-site request refused: state-changing requests must come from the Shoal console itself \
             (or carry an Authorization: Bearer token)"
                .into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// Decides from the Fetch Metadata and Origin headers browsers send. Requests
/// with neither header are not from a browser page (curl, scripts) and carry
/// no ambient credentials an attacker could borrow.
pub fn is_cross_site(method: &Method, headers: &HeaderMap) -> bool {
    if method.is_safe() || headers.contains_key(header::AUTHORIZATION) {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN) {
        None => false,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin_host = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .map(|(_, rest)| rest.trim_end_matches('/'));
            origin_host.is_none() || origin_host != host
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        let post = Method::POST;
        assert!(!is_cross_site(
            &post,
            &headers(&[("sec-fetch-site", "same-origin")])
        ));
        assert!(!is_cross_site(&post, &headers(&[("sec-fetch-site", "none")])));
        assert!(is_cross_site(
            &post,
            &headers(&[("sec-fetch-site", "cross-site")])
        ));
        assert!(is_cross_site(&post, &headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn origin_must_match_host_without_fetch_metadata() {
        let post = Method::POST;
        let same = headers(&[
            ("origin", "http://shoal.example:8300"),
            ("host", "shoal.example:8300"),
        ]);
        let other = headers(&[("origin", "https://evil.example"), ("host", "shoal.example:8300")]);
        let null = headers(&[("origin", "null"), ("host", "shoal.example:8300")]);
        assert!(!is_cross_site(&post, &same));
        assert!(is_cross_site(&post, &other));
        assert!(is_cross_site(&post, &null));
    }

    #[test]
    fn safe_methods_bearer_calls_and_non_browsers_pass() {
        let cross = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(!is_cross_site(&Method::GET, &cross));
        let bearer = headers(&[("sec-fetch-site", "cross-site"), ("authorization", "Bearer x")]);
        assert!(!is_cross_site(&Method::DELETE, &bearer));
        assert!(!is_cross_site(&Method::POST, &HeaderMap::new()));
    }
}
