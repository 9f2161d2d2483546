//! The one call after each write. A write says what it changed; `tell`
//! wakes the orchestrator for the services that need another look, nudges
//! the nodes whose assignments moved, and publishes the events, building
//! each view once. No write decides on its own who hears of it.

use std::collections::BTreeSet;

use shoal_proto::{dashboard::ClusterEvent, event::Event, node::Node, service::Task};

use crate::{ctx::Ctx, error::AppError, views};

/// How a node changed, for the event that says so.
#[derive(Debug)]
enum NodeChange {
    Joined,
    /// Availability, labels, role or inventory.
    Updated,
    /// Connected or lost, as presence saw it.
    Status,
    /// Gone from the store: the node as it was.
    Removed(Box<Node>),
}

/// What one write changed.
#[derive(Debug, Default)]
#[must_use = "changes do nothing until told"]
pub struct Changes {
    /// Services whose view changed: published.
    services: BTreeSet<String>,
    /// Services the orchestrator should look at again.
    wake: BTreeSet<String>,
    removed: Vec<(String, String)>,
    tasks: Vec<Task>,
    rollouts: BTreeSet<String>,
    /// Nodes whose set of assignments changed.
    nudge: BTreeSet<String>,
    nodes: Vec<(String, NodeChange)>,
    /// New lines of the cluster's history.
    history: Vec<ClusterEvent>,
    /// Networks created: published with their services.
    networks: BTreeSet<String>,
    /// Networks deleted, by id and name.
    networks_removed: Vec<(String, String)>,
    /// Every service should be looked at again.
    all: bool,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    /// A service's spec or revision changed (created, edited, scaled,
    /// rolled back): published, and the orchestrator looks again.
    pub fn spec(mut self, service_id: &str) -> Self {
        self.services.insert(service_id.to_owned());
        self.wake.insert(service_id.to_owned());
        self
    }

    /// The orchestrator created or stopped a service's tasks: its counts
    /// are published.
    pub fn tasks_of(mut self, service_id: &str) -> Self {
        self.services.insert(service_id.to_owned());
        self
    }

    pub fn removed(mut self, service_id: &str, name: &str) -> Self {
        self.wake.insert(service_id.to_owned());
        self.removed.push((service_id.to_owned(), name.to_owned()));
        self
    }

    /// A task changed: published.
    pub fn task(mut self, task: Task) -> Self {
        self.tasks.push(task);
        self
    }

    /// A node reported a task's new state: the task is published, its
    /// service looked at again (a slot may need a new task, a rollout may
    /// move on) and, if it ended, its node nudged (the container goes).
    pub fn reported(mut self, task: Task) -> Self {
        self.wake.insert(task.service_id.clone());
        if task.state.is_terminal()
            && let Some(node) = &task.node_id
        {
            self.nudge.insert(node.clone());
        }
        self.tasks.push(task);
        self
    }

    /// A rollout moved or counted: published as it is now.
    pub fn rollout(mut self, rollout_id: &str) -> Self {
        self.rollouts.insert(rollout_id.to_owned());
        self
    }

    /// The orchestrator looks at the service again.
    pub fn wake(mut self, service_id: &str) -> Self {
        self.wake.insert(service_id.to_owned());
        self
    }

    /// The orchestrator looks at every service again: what a node runs
    /// moved out of its hands.
    pub fn wake_all(mut self) -> Self {
        self.all = true;
        self
    }

    /// What the node should run changed.
    pub fn nudge(mut self, node_id: &str) -> Self {
        self.nudge.insert(node_id.to_owned());
        self
    }

    /// A node changed: published, and every service looked at again.
    pub fn node_joined(self, node_id: &str) -> Self {
        self.node(node_id, NodeChange::Joined)
    }

    /// Its availability, labels, role or inventory.
    pub fn node_updated(self, node_id: &str) -> Self {
        self.node(node_id, NodeChange::Updated)
    }

    /// Presence saw it connect or go.
    pub fn node_status(self, node_id: &str) -> Self {
        self.node(node_id, NodeChange::Status)
    }

    /// `node` as it was before it was removed.
    pub fn node_removed(self, node: Node) -> Self {
        let id = node.id.clone();
        self.node(&id, NodeChange::Removed(Box::new(node)))
    }

    /// A line added to the cluster's history: published.
    pub fn history(mut self, event: ClusterEvent) -> Self {
        self.history.push(event);
        self
    }

    /// A network was created.
    pub fn network_created(mut self, network_id: &str) -> Self {
        self.networks.insert(network_id.to_owned());
        self
    }

    pub fn network_removed(mut self, network_id: &str, name: &str) -> Self {
        self.networks_removed
            .push((network_id.to_owned(), name.to_owned()));
        self
    }

    fn node(mut self, node_id: &str, change: NodeChange) -> Self {
        self.nodes.push((node_id.to_owned(), change));
        self
    }

    /// Tells everyone who should hear of these changes.
    pub async fn tell(self, ctx: &Ctx) {
        if self.all || !self.nodes.is_empty() {
            ctx.orchestrator.cluster_changed();
        }
        for service in &self.wake {
            ctx.orchestrator.service_changed(service);
        }
        for node in &self.nudge {
            ctx.dispatcher.notify(node);
        }
        for task in self.tasks {
            ctx.events.publish(Event::TaskUpdated { task });
        }
        for id in &self.services {
            match views::service_by_id(ctx, id).await {
                Ok(Some(service)) => ctx.events.publish(Event::ServiceUpdated {
                    service: Box::new(service),
                }),
                Ok(None) => {}
                Err(error) => unheard(&error, "service", id),
            }
        }
        for (id, name) in self.removed {
            ctx.events.publish(Event::ServiceRemoved { id, name });
        }
        for id in &self.rollouts {
            match rollout(ctx, id).await {
                Ok(Some(rollout)) => ctx.events.publish(Event::RolloutUpdated {
                    rollout: Box::new(rollout),
                }),
                Ok(None) => {}
                Err(error) => unheard(&error, "rollout", id),
            }
        }
        for (id, change) in self.nodes {
            let node = match change {
                NodeChange::Removed(node) => {
                    ctx.events.publish(Event::NodeRemoved { node: *node });
                    continue;
                }
                change => match views::node_by_id(ctx, &id).await {
                    // Removed meanwhile: its removal is told instead.
                    Ok(None) => continue,
                    Ok(Some(node)) => (node, change),
                    Err(error) => {
                        unheard(&error, "node", &id);
                        continue;
                    }
                },
            };
            ctx.events.publish(match node {
                (node, NodeChange::Joined) => Event::NodeJoined { node },
                (node, NodeChange::Status) => Event::NodeStatus { node },
                (node, _) => Event::NodeUpdated { node },
            });
        }
        for event in self.history {
            ctx.events.publish(Event::ClusterEvent { event });
        }
        for id in &self.networks {
            match network(ctx, id).await {
                Ok(Some(network)) => ctx.events.publish(Event::NetworkCreated { network }),
                Ok(None) => {}
                Err(error) => unheard(&error, "network", id),
            }
        }
        for (id, name) in self.networks_removed {
            ctx.events.publish(Event::NetworkRemoved { id, name });
        }
    }
}

async fn network(ctx: &Ctx, id: &str) -> Result<Option<shoal_proto::network::Network>, AppError> {
    match ctx.store.find_network(id).await? {
        Some(network) => views::network(ctx, network).await.map(Some),
        None => Ok(None),
    }
}

async fn rollout(ctx: &Ctx, id: &str) -> Result<Option<shoal_proto::service::Rollout>, AppError> {
    match ctx.store.rollout(id).await? {
        Some(rollout) => views::rollout(ctx, rollout).await.map(Some),
        None => Ok(None),
    }
}

fn unheard(error: &AppError, what: &str, id: &str) {
    tracing::warn!(%error, what, id, "a change could not be published; listeners catch up on their next resync");
}
