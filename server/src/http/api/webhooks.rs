//! A service's webhooks over REST.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shoal_proto::webhook::{CreatedWebhook, Delivery, NewWebhook, Webhook, WebhookChange};

use crate::{auth::Caller, ctx::Ctx, error::AppError, http::extract::ApiJson, ops};

type ApiResult<T> = Result<Json<T>, AppError>;

/// The service by id or by name.
pub async fn list(State(ctx): State<Ctx>, Path(service): Path<String>) -> ApiResult<Vec<Webhook>> {
    ops::webhooks::list(&ctx, &service).await.map(Json)
}

pub async fn create(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(service): Path<String>,
    ApiJson(new): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), AppError> {
    let created = ops::webhooks::create(&ctx, &caller, &service, new).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn get(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Webhook> {
    ops::webhooks::get(&ctx, &id).await.map(Json)
}

pub async fn update(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<WebhookChange>,
) -> ApiResult<Webhook> {
    ops::webhooks::update(&ctx, &caller, &id, change).await.map(Json)
}

pub async fn rotate(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<CreatedWebhook> {
    ops::webhooks::rotate(&ctx, &caller, &id).await.map(Json)
}

pub async fn delete(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::webhooks::delete(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn deliveries(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Vec<Delivery>> {
    ops::webhooks::deliveries(&ctx, &id).await.map(Json)
}
