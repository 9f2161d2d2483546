//! Tasks as users query them, and as nodes report on them.

use shoal_proto::{
    service::{Task, TaskDetail, TaskFilter},
    wire::TaskReport,
};

use super::services;
use crate::{
    changes::Changes,
    ctx::Ctx,
    error::AppError,
    store::{StoreError, TaskQuery, now_millis},
};

pub async fn list(ctx: &Ctx, filter: &TaskFilter) -> Result<Vec<Task>, AppError> {
    let service_id = match &filter.service {
        Some(service) => Some(services::find(ctx, service).await?.id),
        None => None,
    };
    let node_id = match &filter.node {
        Some(node) => Some(node_id(ctx, node).await?),
        None => None,
    };
    let query = TaskQuery {
        service_id: service_id.as_deref(),
        node_id: node_id.as_deref(),
        state: filter.state,
    };
    Ok(ctx
        .store
        .list_tasks(&query)
        .await?
        .into_iter()
        .map(|r| r.task)
        .collect())
}

pub async fn get(ctx: &Ctx, id: &str) -> Result<TaskDetail, AppError> {
    let record = ctx
        .store
        .task(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no task {id:?}")))?;
    let events = ctx.store.task_events(id).await?;
    Ok(TaskDetail {
        task: record.task,
        events,
    })
}

/// A node by id or hostname.
async fn node_id(ctx: &Ctx, node: &str) -> Result<String, AppError> {
    let nodes = ctx.store.list_nodes().await?;
    nodes
        .iter()
        .find(|r| r.node.id == node)
        .or_else(|| nodes.iter().find(|r| r.node.hostname == node))
        .map(|r| r.node.id.clone())
        .ok_or_else(|| AppError::NotFound(format!("no node {node:?}")))
}

/// Records a node's report about one of its tasks. Reports about tasks the
/// node does not run, or that would move a task backwards, are dropped.
pub async fn report(ctx: &Ctx, node_id: &str, report: &TaskReport) -> Result<(), StoreError> {
    let Some(record) = ctx.store.apply_task_report(node_id, report, now_millis()).await? else {
        return Ok(());
    };
    let task = record.task;
    tracing::debug!(task = %task.id, service = %task.service_name, state = %task.state, message = %task.message, "task report");
    Changes::new().reported(task).tell(ctx).await;
    Ok(())
}
