//! Services, their revisions and their tasks over REST.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use shoal_proto::ingress::ServiceIngress;
use shoal_proto::service::{
    Revision, RevisionDiff, RollbackRequest, Rollout, RolloutDetail, Scale, Service, ServiceSpec, Task,
    TaskDetail, TaskFilter,
};

use crate::{
    auth::Caller,
    ctx::Ctx,
    error::AppError,
    http::extract::{ApiJson, ApiQuery},
    ops,
};

type ApiResult<T> = Result<Json<T>, AppError>;

pub async fn list(State(ctx): State<Ctx>) -> ApiResult<Vec<Service>> {
    ops::services::list(&ctx).await.map(Json)
}

pub async fn create(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(spec): ApiJson<ServiceSpec>,
) -> Result<(StatusCode, Json<Service>), AppError> {
    let service = ops::services::create(&ctx, &caller, spec).await?;
    Ok((StatusCode::CREATED, Json(service)))
}

/// By id or by name.
pub async fn get(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Service> {
    ops::services::get(&ctx, &id).await.map(Json)
}

pub async fn update(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<ServiceSpec>,
) -> ApiResult<Service> {
    ops::services::update(&ctx, &caller, &id, spec).await.map(Json)
}

pub async fn scale(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Scale>,
) -> ApiResult<Service> {
    ops::services::scale(&ctx, &caller, &id, body.replicas)
        .await
        .map(Json)
}

pub async fn delete(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::services::delete(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revisions(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Vec<Revision>> {
    ops::services::revisions(&ctx, &id).await.map(Json)
}

/// `?from=N&to=M`; by default the current revision against the one before.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    from: Option<u64>,
    to: Option<u64>,
}

pub async fn diff(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DiffQuery>,
) -> ApiResult<RevisionDiff> {
    ops::services::revision_diff(&ctx, &id, query.from, query.to)
        .await
        .map(Json)
}

pub async fn tasks(State(ctx): State<Ctx>, ApiQuery(filter): ApiQuery<TaskFilter>) -> ApiResult<Vec<Task>> {
    ops::tasks::list(&ctx, &filter).await.map(Json)
}

pub async fn task(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<TaskDetail> {
    ops::tasks::get(&ctx, &id).await.map(Json)
}

pub async fn rollback(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RollbackRequest>,
) -> Result<(StatusCode, Json<Rollout>), AppError> {
    let rollout = ops::rollouts::rollback(&ctx, &caller, &id, body.revision).await?;
    Ok((StatusCode::ACCEPTED, Json(rollout)))
}

pub async fn rollouts(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Vec<Rollout>> {
    ops::rollouts::of_service(&ctx, &id).await.map(Json)
}

pub async fn rollout(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<RolloutDetail> {
    ops::rollouts::get(&ctx, &id).await.map(Json)
}

pub async fn pause(State(ctx): State<Ctx>, caller: Caller, Path(id): Path<String>) -> ApiResult<Rollout> {
    ops::rollouts::pause(&ctx, &caller, &id).await.map(Json)
}

pub async fn resume(State(ctx): State<Ctx>, caller: Caller, Path(id): Path<String>) -> ApiResult<Rollout> {
    ops::rollouts::resume(&ctx, &caller, &id).await.map(Json)
}

pub async fn abort(State(ctx): State<Ctx>, caller: Caller, Path(id): Path<String>) -> ApiResult<Rollout> {
    ops::rollouts::abort(&ctx, &caller, &id).await.map(Json)
}

pub async fn ingress(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<ServiceIngress> {
    ops::ingress::of_service(&ctx, &id).await.map(Json)
}
