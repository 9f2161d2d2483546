//! `POST /hooks/{id}`: where registries and CI jobs deliver. It sits outside
//! the session and same-origin layers: a delivery authenticates with the
//! webhook's own secret, never with a user's session or API token.

use std::net::SocketAddr;

use axum::{
    Json,
    body::{Body, to_bytes},
    extract::{ConnectInfo, Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::{
    ctx::Ctx,
    error::AppError,
    hooks::{self, BODY_LIMIT, Inbound, signature},
};

#[derive(Debug, Default, Deserialize)]
pub struct HookQuery {
    /// For senders that cannot set headers.
    token: Option<String>,
}

pub async fn deliver(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Query(query): Query<HookQuery>,
    request: Request<Body>,
) -> Result<Response, AppError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let bearer = header_text(headers, header::AUTHORIZATION.as_str())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let body = to_bytes(body, BODY_LIMIT).await.ok();
    let answer = hooks::deliver(
        &ctx,
        Inbound {
            webhook_id: &id,
            source: Some(peer.ip()),
            secret: bearer.or(query.token.as_deref()),
            signature: header_text(headers, signature::HEADER),
            github_event: header_text(headers, "x-github-event"),
            delivery_id: header_text(headers, "x-github-delivery").or(header_text(headers, "x-delivery-id")),
            body: body.as_deref(),
        },
    )
    .await?;
    let mut response = (answer.status, Json(answer.receipt)).into_response();
    if let Some(secs) = answer.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(response)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}
