//! `GET /api/v1/dashboard`: the cluster at a glance, as the console's
//! first page shows it.

use axum::{Json, extract::State};
use shoal_proto::dashboard::Dashboard;

use crate::{ctx::Ctx, error::AppError, ops};

pub async fn summary(State(ctx): State<Ctx>) -> Result<Json<Dashboard>, AppError> {
    ops::dashboard::summary(&ctx).await.map(Json)
}
