//! What `GET /api/v1/events` streams to the console: one JSON object per
//! server-sent event, told apart by its `type`. Node events carry the whole
//! node as it is after the change, so a list can replace its row without a
//! second request.

use serde::{Deserialize, Serialize};

use crate::{
    dashboard::ClusterEvent,
    network::Network,
    node::Node,
    service::{Rollout, Service, Task},
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "node.joined")]
    NodeJoined { node: Node },
    /// Ready, down or unknown.
    #[serde(rename = "node.status")]
    NodeStatus { node: Node },
    /// Availability, labels, role or inventory changed.
    #[serde(rename = "node.updated")]
    NodeUpdated { node: Node },
    /// The node as it was when removed.
    #[serde(rename = "node.removed")]
    NodeRemoved { node: Node },
    /// Created, changed (a new revision, a scale), or the orchestrator
    /// created or stopped its tasks. A node's report on a task comes as
    /// `TaskUpdated` alone.
    #[serde(rename = "service.updated")]
    ServiceUpdated { service: Box<Service> },
    #[serde(rename = "service.removed")]
    ServiceRemoved { id: String, name: String },
    /// A task was created, placed, changed state or was removed from history.
    #[serde(rename = "task.updated")]
    TaskUpdated { task: Task },
    /// A rollout started, advanced, paused, resumed or ended.
    #[serde(rename = "rollout.updated")]
    RolloutUpdated { rollout: Box<Rollout> },
    /// A network was created.
    #[serde(rename = "network.created")]
    NetworkCreated { network: Network },
    #[serde(rename = "network.removed")]
    NetworkRemoved { id: String, name: String },
    /// A line was added to the cluster's recent history (a node went down
    /// or came back, a rollout started or ended).
    #[serde(rename = "cluster.event")]
    ClusterEvent { event: ClusterEvent },
    /// The stream fell behind and skipped events: reload what is shown.
    #[serde(rename = "resync")]
    Resync,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_their_type() {
        assert_eq!(
            serde_json::to_string(&Event::Resync).unwrap(),
            r#"{"type":"resync"}"#
        );
        let json = r#"{"type":"node.removed","node":{"id":"n1","hostname":"h","role":"worker",
            "availability":"active","labels":{},"status":"down","address":"10.0.0.1",
            "platform":{"os":"linux","arch":"amd64"},"resources":{"cpus":2,"memory_bytes":1024},
            "engine_version":"20.10.24","agent_version":"0.1.0","last_heartbeat_at":null,"joined_at":1}}"#;
        let event: Event = serde_json::from_str(json).unwrap();
        assert!(matches!(event, Event::NodeRemoved { node } if node.id == "n1"));
    }
}
