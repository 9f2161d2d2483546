//! A service's published ports as the console and the API show them: where
//! each is published and where its connections go.

use serde::{Deserialize, Serialize};

use crate::{
    Millis,
    service::{Protocol, PublishMode},
    wire::PortMetrics,
};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceIngress {
    pub service_id: String,
    /// The mesh table the server publishes now.
    pub table_version: u64,
    pub ports: Vec<PublishedPort>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub published: u16,
    pub target: u16,
    pub protocol: Protocol,
    pub mode: PublishMode,
    /// Ingress: the tasks the mesh balances across. Host: the tasks that
    /// publish the port on their own node.
    pub backends: Vec<BackendView>,
    /// Ingress: every connected node's listener. Host: the nodes running a task.
    pub nodes: Vec<NodeListener>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendView {
    pub task_id: String,
    pub node_id: String,
    pub hostname: String,
    pub addr: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeListener {
    pub node_id: String,
    pub hostname: String,
    /// Where the node accepts connections for the port.
    pub addr: String,
    /// Why it cannot, if it cannot.
    pub error: Option<String>,
    /// The tasks this node forwards to, as it last reported.
    pub backends: Vec<String>,
    pub metrics: PortMetrics,
    /// The table version the node has applied; behind the server's while a
    /// change travels.
    pub table_version: u64,
    pub reported_at: Option<Millis>,
}
