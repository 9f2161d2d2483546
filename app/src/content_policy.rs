//! The console's content security policy, sent with every page. Scripts run
//! only from this server or inline with this response's nonce (the
//! hydration bootstrap, the streamed data), so markup slipped into a page
//! through some field that escaped escaping cannot run script. The nonce is
//! the one Leptos generates for each server-rendered response.

use leptos::{nonce::use_nonce, prelude::use_context};
use leptos_axum::ResponseOptions;

/// Adds the policy to the response being rendered; only a page render has
/// a nonce, so only pages get it.
pub fn send() {
    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    if let Ok(value) = http::HeaderValue::from_str(&policy(&nonce)) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// `wasm-unsafe-eval` lets the bundle compile its WebAssembly and nothing
/// else; inline `style` attributes (progress bars, service colours) need
/// `unsafe-inline` for styles, which cannot run code.
fn policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_need_this_responses_nonce_and_nothing_may_frame_the_page() {
        let policy = policy("abc123");
        assert!(policy.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"));
        assert!(!policy.contains("script-src 'self' 'unsafe-inline'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("object-src 'none'"));
    }
}
