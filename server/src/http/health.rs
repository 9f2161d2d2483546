use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::{ctx::Ctx, error::AppError};

/// Liveness and readiness in one: the server answers and its database does.
pub async fn healthz(State(ctx): State<Ctx>) -> Result<Json<Value>, AppError> {
    ctx.store
        .ping()
        .await
        .map_err(|error| AppError::Unavailable(format!("database: {error}")))?;
    Ok(Json(json!({ "status": "ok" })))
}
