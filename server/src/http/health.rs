use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::ApiError;
use crate::store::Store;

/// Liveness and readiness in one: the server answers and its database does.
pub async fn healthz(State(store): State<Store>) -> Result<Json<Value>, ApiError> {
    store
        .ping()
        .await
        .map_err(|error| ApiError::Unavailable(format!("database: {error}")))?;
    Ok(Json(json!({ "status": "ok" })))
}
