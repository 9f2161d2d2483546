//! Sessions, users, API tokens and the audit log over REST.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shoal_proto::{
    auth::{
        ApiToken, AuditPage, AuditQuery, CreatedApiToken, LoginRequest, Me, NewApiToken, NewUser, User,
        UserChange,
    },
    status::ServerStatus,
};

use crate::{
    auth::Caller,
    ctx::Ctx,
    error::AppError,
    http::extract::{ApiJson, ApiQuery},
    ops,
};

type ApiResult<T> = Result<Json<T>, AppError>;

pub async fn login(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Me> {
    ops::session::login(&ctx, &caller, body).await.map(Json)
}

pub async fn logout(State(ctx): State<Ctx>, caller: Caller) -> Result<StatusCode, AppError> {
    ops::session::logout(&ctx, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(caller: Caller) -> ApiResult<Me> {
    ops::session::me(&caller)?
        .map(Json)
        .ok_or(AppError::Unauthenticated)
}

pub async fn status(State(ctx): State<Ctx>) -> Json<ServerStatus> {
    Json(ops::status::status(&ctx))
}

pub async fn list_users(State(ctx): State<Ctx>) -> ApiResult<Vec<User>> {
    ops::users::list(&ctx).await.map(Json)
}

pub async fn create_user(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let user = ops::users::create(&ctx, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn get_user(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<User> {
    ctx.store
        .user_by_id(&id)
        .await?
        .map(|record| Json(record.user))
        .ok_or_else(|| AppError::NotFound(format!("no user with id {id}")))
}

pub async fn update_user(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserChange>,
) -> ApiResult<User> {
    ops::users::update(&ctx, &caller, &id, body).await.map(Json)
}

pub async fn delete_user(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::users::delete(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tokens(State(ctx): State<Ctx>, caller: Caller) -> ApiResult<Vec<ApiToken>> {
    ops::tokens::list_own(&ctx, &caller).await.map(Json)
}

pub async fn create_token(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(body): ApiJson<NewApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), AppError> {
    let created = ops::tokens::create(&ctx, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn revoke_token(
    State(ctx): State<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    ops::tokens::revoke_own(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn audit(State(ctx): State<Ctx>, ApiQuery(query): ApiQuery<AuditQuery>) -> ApiResult<AuditPage> {
    ops::audit::page(&ctx, query).await.map(Json)
}
