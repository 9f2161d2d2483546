//! The cluster at a glance, for the console's first page and
//! `GET /api/v1/dashboard`: read from the same views the lists use, so the
//! dashboard never tells a different story than the pages it links to.

use std::{cmp::Reverse, collections::HashMap};

use shoal_proto::{
    dashboard::{
        Dashboard, EVENTS_MAX, FAILING_MAX, FAILING_WINDOW_MS, FailingTask, NodeTally, ServiceBrief,
    },
    service::TaskState,
};

use crate::{
    ctx::Ctx,
    error::AppError,
    store::{TaskRecord, now_millis},
    views,
};

pub async fn summary(ctx: &Ctx) -> Result<Dashboard, AppError> {
    let nodes = views::nodes(ctx).await?;
    let hostnames: HashMap<&str, &str> = nodes
        .iter()
        .map(|node| (node.id.as_str(), node.hostname.as_str()))
        .collect();
    let since = now_millis() - FAILING_WINDOW_MS;
    let mut briefs = Vec::new();
    let mut rollouts = Vec::new();
    let mut failing = Vec::new();
    for record in ctx.store.list_services().await? {
        let tasks = ctx.store.tasks_of_service(&record.id).await?;
        failing.extend(
            tasks
                .iter()
                .filter(|r| is_failure(r) && r.task.updated_at >= since)
                .map(|r| failing_task(r, &hostnames)),
        );
        let service = views::service(ctx, record, &tasks).await?;
        briefs.push(ServiceBrief {
            health: service.health(),
            id: service.id,
            name: service.name,
            image: service.spec.image,
            desired: service.tasks.desired,
            running: service.tasks.running,
        });
        rollouts.extend(service.rollout);
    }
    failing.sort_by_key(|task| Reverse(task.at));
    failing.truncate(FAILING_MAX);
    rollouts.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
    Ok(Dashboard {
        nodes: NodeTally::of(&nodes),
        services: briefs,
        rollouts,
        failing,
        events: ctx.store.cluster_events(EVENTS_MAX as u64).await?,
    })
}

fn is_failure(record: &TaskRecord) -> bool {
    matches!(record.task.state, TaskState::Failed | TaskState::Rejected)
}

fn failing_task(record: &TaskRecord, hostnames: &HashMap<&str, &str>) -> FailingTask {
    let task = &record.task;
    let reason = match &task.error {
        Some(error) if !error.is_empty() && !task.message.contains(error.as_str()) => {
            format!("{}: {error}", task.message)
        }
        _ => task.message.clone(),
    };
    FailingTask {
        task_id: task.id.clone(),
        service_id: task.service_id.clone(),
        service_name: task.service_name.clone(),
        slot: task.slot,
        revision: task.revision,
        node_id: task.node_id.clone(),
        hostname: task
            .node_id
            .as_deref()
            .and_then(|id| hostnames.get(id))
            .map(|hostname| (*hostname).to_owned()),
        state: task.state,
        reason,
        at: task.updated_at,
    }
}
