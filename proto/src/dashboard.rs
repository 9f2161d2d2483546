//! `GET /api/v1/dashboard` and the console's first page: the cluster at a
//! glance — nodes by status with their capacity, services by health,
//! rollouts in progress, tasks failing now and the latest cluster events.

use serde::{Deserialize, Serialize};

use crate::{
    Millis,
    node::{Node, NodeRole},
    service::{Rollout, ServiceHealth, TaskState},
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub nodes: NodeTally,
    /// Every live service with its health, by name.
    pub services: Vec<ServiceBrief>,
    /// Rollouts running or paused, oldest first.
    pub rollouts: Vec<Rollout>,
    /// Failed or rejected tasks of live services in the last
    /// [`FAILING_WINDOW_MS`], newest first, at most [`FAILING_MAX`].
    pub failing: Vec<FailingTask>,
    /// Newest first, at most [`EVENTS_MAX`].
    pub events: Vec<ClusterEvent>,
}

/// How far back a failed task still counts as failing now.
pub const FAILING_WINDOW_MS: Millis = 15 * 60 * 1000;
pub const FAILING_MAX: usize = 20;
pub const EVENTS_MAX: usize = 20;

/// Nodes by status and availability. `ready`, `down` and `unknown` split
/// every node by status; `drained` and `paused` count nodes by availability
/// whatever their status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTally {
    pub total: Capacity,
    pub ready: Capacity,
    pub down: Capacity,
    pub unknown: Capacity,
    pub drained: Capacity,
    pub paused: Capacity,
    pub managers: u64,
}

/// A number of nodes and what they have between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub nodes: u64,
    pub cpus: u64,
    pub memory_bytes: u64,
}

impl Capacity {
    fn add(&mut self, node: &Node) {
        self.nodes += 1;
        self.cpus += node.resources.cpus;
        self.memory_bytes += node.resources.memory_bytes;
    }
}

impl NodeTally {
    pub fn of(nodes: &[Node]) -> Self {
        use crate::node::{Availability, NodeStatus};
        let mut tally = Self::default();
        for node in nodes {
            tally.total.add(node);
            match node.status {
                NodeStatus::Ready => tally.ready.add(node),
                NodeStatus::Down => tally.down.add(node),
                NodeStatus::Unknown => tally.unknown.add(node),
            }
            match node.availability {
                Availability::Active => {}
                Availability::Drain => tally.drained.add(node),
                Availability::Pause => tally.paused.add(node),
            }
            if node.role == NodeRole::Manager {
                tally.managers += 1;
            }
        }
        tally
    }
}

/// One service as the dashboard lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceBrief {
    pub id: String,
    pub name: String,
    pub image: String,
    pub desired: u64,
    pub running: u64,
    pub health: ServiceHealth,
}

/// A task that failed or was refused recently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingTask {
    pub task_id: String,
    pub service_id: String,
    pub service_name: String,
    pub slot: Option<u64>,
    pub revision: u64,
    pub node_id: Option<String>,
    pub hostname: Option<String>,
    pub state: TaskState,
    /// The task's message, with its error when it has one.
    pub reason: String,
    pub at: Millis,
}

/// What kind of thing happened to the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClusterEventKind {
    #[serde(rename = "node.joined")]
    NodeJoined,
    #[serde(rename = "node.down")]
    NodeDown,
    /// Ready again after being down.
    #[serde(rename = "node.ready")]
    NodeReady,
    #[serde(rename = "node.removed")]
    NodeRemoved,
    #[serde(rename = "rollout.started")]
    RolloutStarted,
    /// A rollout a webhook delivery started.
    #[serde(rename = "webhook.deploy")]
    WebhookDeploy,
    /// An automatic or requested rollback began turning a rollout back.
    #[serde(rename = "rollout.rolling_back")]
    RolloutRollingBack,
    #[serde(rename = "rollout.ended")]
    RolloutEnded,
}

impl ClusterEventKind {
    pub const ALL: [Self; 8] = [
        Self::NodeJoined,
        Self::NodeDown,
        Self::NodeReady,
        Self::NodeRemoved,
        Self::RolloutStarted,
        Self::WebhookDeploy,
        Self::RolloutRollingBack,
        Self::RolloutEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NodeJoined => "node.joined",
            Self::NodeDown => "node.down",
            Self::NodeReady => "node.ready",
            Self::NodeRemoved => "node.removed",
            Self::RolloutStarted => "rollout.started",
            Self::WebhookDeploy => "webhook.deploy",
            Self::RolloutRollingBack => "rollout.rolling_back",
            Self::RolloutEnded => "rollout.ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// Whether the subject is a node (else a service).
    pub fn is_about_a_node(self) -> bool {
        matches!(
            self,
            Self::NodeJoined | Self::NodeDown | Self::NodeReady | Self::NodeRemoved
        )
    }

    /// A short word for lists: `down`, `deploy`, `rollback`…
    pub fn word(self) -> &'static str {
        match self {
            Self::NodeJoined => "joined",
            Self::NodeDown => "down",
            Self::NodeReady => "ready",
            Self::NodeRemoved => "removed",
            Self::RolloutStarted => "rollout",
            Self::WebhookDeploy => "webhook",
            Self::RolloutRollingBack => "rollback",
            Self::RolloutEnded => "ended",
        }
    }
}

/// One line of the cluster's recent history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEvent {
    pub id: i64,
    pub at: Millis,
    pub kind: ClusterEventKind,
    /// A node's id, or a service's id for rollouts.
    pub subject_id: String,
    /// The node's hostname or the service's name, as it was then.
    pub subject_name: String,
    pub message: String,
}

impl ClusterEvent {
    /// The console page about the subject: the nodes list (a node has no
    /// page of its own) or the service's page.
    pub fn href(&self) -> String {
        if self.kind.is_about_a_node() {
            "/nodes".to_owned()
        } else {
            format!("/services/{}", self.subject_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::node::{Availability, NodeStatus, Platform, Resources};

    fn node(status: NodeStatus, availability: Availability, cpus: u64) -> Node {
        Node {
            id: "n".into(),
            hostname: "h".into(),
            role: NodeRole::Worker,
            availability,
            labels: BTreeMap::new(),
            engine_labels: BTreeMap::new(),
            status,
            address: "127.0.0.1".into(),
            platform: Platform::default(),
            resources: Resources {
                cpus,
                memory_bytes: cpus * 1024,
            },
            engine_version: String::new(),
            agent_version: String::new(),
            last_heartbeat_at: None,
            joined_at: 0,
        }
    }

    #[test]
    fn nodes_are_counted_by_status_and_availability_with_their_capacity() {
        let tally = NodeTally::of(&[
            node(NodeStatus::Ready, Availability::Active, 4),
            node(NodeStatus::Ready, Availability::Drain, 2),
            node(NodeStatus::Down, Availability::Pause, 1),
        ]);
        assert_eq!(
            tally.total,
            Capacity {
                nodes: 3,
                cpus: 7,
                memory_bytes: 7 * 1024
            }
        );
        assert_eq!(tally.ready.nodes, 2);
        assert_eq!(tally.ready.cpus, 6);
        assert_eq!(tally.down.nodes, 1);
        assert_eq!(tally.drained.nodes, 1);
        assert_eq!(tally.paused.cpus, 1);
        assert_eq!(tally.unknown, Capacity::default());
    }

    #[test]
    fn event_kinds_read_back_their_names_and_link_to_their_subject() {
        for kind in ClusterEventKind::ALL {
            assert_eq!(ClusterEventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        let event = ClusterEvent {
            id: 1,
            at: 0,
            kind: ClusterEventKind::RolloutEnded,
            subject_id: "s1".into(),
            subject_name: "web".into(),
            message: String::new(),
        };
        assert_eq!(event.href(), "/services/s1");
        let down = ClusterEvent {
            kind: ClusterEventKind::NodeDown,
            ..event
        };
        assert_eq!(down.href(), "/nodes");
    }
}
