//! The routing mesh as users see it, per service: which nodes publish its
//! ports, what each forwards to, and the nodes' counters.

use std::collections::HashMap;

use shoal_proto::{
    ingress::{BackendView, NodeListener, PublishedPort, ServiceIngress},
    service::{DesiredState, PublishMode, TaskState},
    wire::PortMetrics,
};

use super::services;
use crate::ctx::Ctx;
use crate::error::AppError;

pub async fn of_service(ctx: &Ctx, id_or_name: &str) -> Result<ServiceIngress, AppError> {
    let service = services::find(ctx, id_or_name).await?;
    let hostnames: HashMap<String, String> = ctx
        .store
        .list_nodes()
        .await?
        .into_iter()
        .map(|r| (r.node.id, r.node.hostname))
        .collect();
    let hostname = |id: &str| hostnames.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let table = ctx.ingress.current();
    let reports = ctx.ingress.reports();
    let tasks = ctx.store.tasks_of_service(&service.id).await?;
    let mut ports = Vec::new();
    for port in &service.spec.ports {
        let Some(published) = port.published else {
            continue;
        };
        let (backends, nodes) = match port.mode {
            PublishMode::Ingress => {
                let backends = table
                    .ports
                    .iter()
                    .find(|p| {
                        p.service_id == service.id && p.published == published && p.protocol == port.protocol
                    })
                    .map(|p| {
                        p.backends
                            .iter()
                            .map(|b| BackendView {
                                task_id: b.task_id.clone(),
                                node_id: b.node_id.clone(),
                                hostname: hostname(&b.node_id),
                                addr: b.addr.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut nodes: Vec<NodeListener> = reports
                    .iter()
                    .filter_map(|(node_id, report)| {
                        let listener = report
                            .status
                            .ports
                            .iter()
                            .find(|l| l.published == published && l.protocol == port.protocol)?;
                        Some(NodeListener {
                            node_id: node_id.clone(),
                            hostname: hostname(node_id),
                            addr: listener.addr.clone(),
                            error: listener.error.clone(),
                            backends: listener.backends.clone(),
                            metrics: listener.metrics,
                            table_version: report.status.version,
                            reported_at: Some(report.received_at),
                        })
                    })
                    .collect();
                nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname));
                (backends, nodes)
            }
            PublishMode::Host => {
                let running = tasks.iter().filter(|r| {
                    r.task.desired_state == DesiredState::Running && r.task.state == TaskState::Running
                });
                let mut backends = Vec::new();
                let mut nodes = Vec::new();
                for record in running {
                    let (Some(node_id), Some(binding)) = (
                        record.task.node_id.as_deref(),
                        record
                            .task
                            .ports
                            .iter()
                            .find(|b| b.target == port.target && b.protocol == port.protocol),
                    ) else {
                        continue;
                    };
                    let addr = format!("{}:{}", binding.host_ip, binding.host_port);
                    backends.push(BackendView {
                        task_id: record.task.id.clone(),
                        node_id: node_id.to_owned(),
                        hostname: hostname(node_id),
                        addr: addr.clone(),
                    });
                    nodes.push(NodeListener {
                        node_id: node_id.to_owned(),
                        hostname: hostname(node_id),
                        addr,
                        error: None,
                        backends: vec![record.task.id.clone()],
                        metrics: PortMetrics::default(),
                        table_version: 0,
                        reported_at: None,
                    });
                }
                (backends, nodes)
            }
        };
        ports.push(PublishedPort {
            published,
            target: port.target,
            protocol: port.protocol,
            mode: port.mode,
            backends,
            nodes,
        });
    }
    Ok(ServiceIngress {
        service_id: service.id,
        table_version: table.version,
        ports,
    })
}
