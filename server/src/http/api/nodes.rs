//! Nodes and join tokens over REST.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shoal_proto::node::{JoinToken, JoinTokens, Node, NodeChange, RemoveNode, RoleChange};

use crate::{
    auth::Caller,
    ctx::Ctx,
    error::AppError,
    http::extract::{ApiJson, ApiQuery},
    ops,
};

type ApiResult<T> = Result<Json<T>, AppError>;

pub async fn list(State(ctx): State<Ctx>) -> ApiResult<Vec<Node>> {
    ops::nodes::list(&ctx).await.map(Json)
}

pub async fn get(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Node> {
    ops::nodes::get(&ctx, &id).await.map(Json)
}

pub async fn update(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NodeChange>,
) -> ApiResult<Node> {
    ops::nodes::update(&ctx, &caller, &id, body).await.map(Json)
}

pub async fn set_role(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoleChange>,
) -> ApiResult<Node> {
    ops::nodes::set_role(&ctx, &caller, &id, body).await.map(Json)
}

pub async fn remove(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(options): ApiQuery<RemoveNode>,
) -> Result<StatusCode, AppError> {
    ops::nodes::remove(&ctx, &caller, &id, options).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn join_tokens(State(ctx): State<Ctx>) -> ApiResult<JoinTokens> {
    ops::join_tokens::view(&ctx).await.map(Json)
}

pub async fn rotate_join_token(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<JoinToken> {
    ops::join_tokens::rotate(&ctx, &caller, &id).await.map(Json)
}
