//! Service networks over REST.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shoal_proto::network::{Network, NewNetwork};

use crate::{auth::Caller, ctx::Ctx, error::AppError, http::extract::ApiJson, ops};

pub async fn list(State(ctx): State<Ctx>) -> Result<Json<Vec<Network>>, AppError> {
    ops::networks::list(&ctx).await.map(Json)
}

pub async fn create(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(new): ApiJson<NewNetwork>,
) -> Result<(StatusCode, Json<Network>), AppError> {
    let network = ops::networks::create(&ctx, &caller, new).await?;
    Ok((StatusCode::CREATED, Json(network)))
}

/// By id or by name, with its services.
pub async fn get(State(ctx): State<Ctx>, Path(id): Path<String>) -> Result<Json<Network>, AppError> {
    ops::networks::get(&ctx, &id).await.map(Json)
}

pub async fn delete(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::networks::delete(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
