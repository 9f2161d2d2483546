//! Plain data for the orchestrator's tests.

use std::collections::BTreeMap;

use shoal_proto::{
    node::{Availability, Node, NodeRole, NodeStatus, Platform, Resources},
    service::ServiceSpec,
};

pub fn node(id: &str, role: NodeRole) -> Node {
    Node {
        id: id.to_owned(),
        hostname: format!("host-{id}"),
        role,
        availability: Availability::Active,
        labels: BTreeMap::new(),
        status: NodeStatus::Ready,
        address: "127.0.0.1".into(),
        platform: Platform {
            os: "linux".into(),
            arch: "amd64".into(),
        },
        resources: Resources {
            cpus: 2,
            memory_bytes: 4 << 30,
        },
        engine_version: "20.10".into(),
        agent_version: "0.1.0".into(),
        last_heartbeat_at: None,
        joined_at: 0,
    }
}

pub fn workers(count: usize) -> Vec<Node> {
    (1..=count)
        .map(|i| node(&format!("w{i}"), NodeRole::Worker))
        .collect()
}

pub fn labelled(mut node: Node, key: &str, value: &str) -> Node {
    node.labels.insert(key.to_owned(), value.to_owned());
    node
}

pub fn spec(json: serde_json::Value) -> ServiceSpec {
    let spec: ServiceSpec = serde_json::from_value(json).expect("a valid spec");
    spec.validate().expect("a valid spec");
    spec
}
