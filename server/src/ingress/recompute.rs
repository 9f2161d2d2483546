//! The loop that keeps the ingress table current: it reads the services,
//! their tasks and the ready nodes from the store, publishes the table
//! when it differs, and releases the tasks whose drains are done.

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use shoal_proto::{
    event::Event,
    node::NodeStatus,
    wire::{IngressPort, NetworkedService, address_ip},
};

use super::{
    networked, settle,
    table::{self, Backends, Published},
};
use crate::{changes::Changes, ctx::Ctx, store::StoreError};

/// A full recompute this often, whatever happened.
const RESYNC: Duration = Duration::from_secs(5);
/// Changes close together make one table.
const SETTLE: Duration = Duration::from_millis(20);

/// Recomputes the table from the store: on task, service and node events,
/// on request, at drain deadlines and every few seconds. Runs until the
/// server stops.
pub async fn run(ctx: Ctx) {
    let mut events = ctx.events.subscribe();
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        let deadline = ctx.ingress.state().drains.next_deadline();
        tokio::select! {
            event = events.recv() => match event {
                Ok(Event::TaskUpdated { .. } | Event::ServiceUpdated { .. } | Event::ServiceRemoved { .. }
                    | Event::NodeStatus { .. } | Event::NodeUpdated { .. } | Event::NodeRemoved { .. }) => {}
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            () = ctx.ingress.recompute.notified() => {}
            _ = resync.tick() => {}
            () = sleep_until(deadline) => {}
        }
        tokio::time::sleep(SETTLE).await;
        match compute(&ctx).await {
            Ok(Computed {
                ports,
                services,
                timeouts,
            }) => {
                ctx.ingress.publish(ports, services, timeouts);
            }
            Err(error) => tracing::warn!(%error, "cannot compute the ingress table"),
        }
        let release = settle(&mut ctx.ingress.state());
        release
            .iter()
            .fold(Changes::new(), |changes, node| changes.nudge(node))
            .tell(&ctx)
            .await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

struct Computed {
    ports: Vec<IngressPort>,
    services: Vec<NetworkedService>,
    /// Each service's drain timeout, by id.
    timeouts: HashMap<String, Duration>,
}

async fn compute(ctx: &Ctx) -> Result<Computed, StoreError> {
    let services = ctx.store.list_services().await?;
    // A node known by a name, not an IP, is no backend: the mesh does not
    // resolve names (docs/ingress.md says to advertise an IP).
    let addresses: HashMap<String, IpAddr> = ctx
        .store
        .list_nodes()
        .await?
        .into_iter()
        .filter(|r| ctx.presence.status(&r.node.id).0 == NodeStatus::Ready)
        .filter_map(|r| Some((r.node.id, address_ip(&r.node.address)?)))
        .collect();
    let mut tasks = Vec::with_capacity(services.len());
    // Only the services the table lists need their tasks read.
    for service in &services {
        let reached =
            !service.spec.networks.is_empty() || service.spec.ports.iter().any(|p| p.published.is_some());
        tasks.push(if reached {
            ctx.store.tasks_of_service(&service.id).await?
        } else {
            Vec::new()
        });
    }
    let published: Vec<Published> = services
        .iter()
        .zip(&tasks)
        .map(|(service, tasks)| Published {
            id: &service.id,
            name: &service.name,
            spec: &service.spec,
            tasks,
            address: service.address,
        })
        .collect();
    let timeouts = services
        .iter()
        .map(|s| (s.id.clone(), s.spec.drain_timeout.as_std()))
        .collect();
    let backends = Backends::new(&published, &addresses);
    Ok(Computed {
        ports: table::build(&published, &backends),
        services: networked::build(&published, &backends),
        timeouts,
    })
}
