//! The agent protocol: how `shoal-agent` and the server's agent gateway talk.
//!
//! An agent opens a TLS connection to the gateway and exchanges frames: a
//! 4-byte big-endian length, then that many bytes of one JSON message with a
//! `type` field. The first frame says what the connection is for:
//!
//! - `fetch_ca`: the joining agent asks for the cluster CA certificate, over
//!   a connection it cannot verify yet; it checks the answer against the
//!   digest in its join token.
//! - `join`: over a connection verified against that CA, the agent presents
//!   the token's secret and a certificate signing request, and receives its
//!   node identity (`joined`).
//! - `hello`: a joined node, authenticated by its client certificate, opens
//!   its session. The server answers `welcome` (heartbeat settings), then the
//!   agent sends its `inventory` and a `heartbeat` every interval, each
//!   answered by one from the server so both sides notice a dead peer.
//!
//! After `welcome` the server sends the node's whole `assignments` set, then
//! `assignment_changes` as the orchestrator decides; the agent makes its
//! Docker engine match and sends a `task_status` for every change it sees.
//! The routing mesh's `ingress` table follows, whole, whenever it changes;
//! the agent answers each with an `ingress_status` saying which version its
//! listeners run, and repeats that while its counters move.
//!
//! Either side ends a connection it cannot continue; the server first sends
//! `refused` with a code and a message for the user.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    FieldError,
    node::{HOSTNAME_MAX, check_hostname},
    service::{
        DesiredState, Duration, HealthCheck, PortConfig, Probe, Protocol, PullPolicy, RegistryAuth, TaskState,
    },
};

pub const PROTOCOL_VERSION: u32 = 1;

/// Far above any message of this protocol, low enough that a broken or
/// hostile peer cannot make the other side allocate much.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// The limit until a peer has identified itself: the largest join (a
/// certificate request, 64 labels at their longest) fits with room, and
/// an unknown peer cannot make the server reserve more per connection.
pub const OPENING_FRAME_BYTES: usize = 64 << 10;

/// The name the gateway's certificate carries and agents verify, whatever
/// address they dial: agents reach the server through addresses (NAT, load
/// balancers) that it cannot know, and the pinned cluster CA is what they trust.
pub const SERVER_NAME: &str = "shoal-server";

/// The gateway's port when an address leaves it out.
pub const DEFAULT_PORT: u16 = 8302;

/// Agent to server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    FetchCa {
        protocol: u32,
    },
    Join(JoinRequest),
    Hello {
        protocol: u32,
    },
    Inventory(Inventory),
    Heartbeat,
    /// A task changed state, or the agent (re)reports it after connecting.
    TaskStatus(TaskReport),
    /// The ingress table the node has applied, with its listeners' state
    /// and counters: after every `ingress` message, and every few seconds
    /// while counters change.
    IngressStatus(IngressStatus),
}

/// Server to agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    CaCertificate {
        pem: String,
    },
    Joined(NodeIdentity),
    Welcome(Welcome),
    Heartbeat,
    Refused(Refusal),
    /// Every task the node should know about, sent after `welcome`: tasks
    /// absent from it are not the node's and their containers go.
    Assignments {
        tasks: Vec<Assignment>,
    },
    /// Changes to that set since the last message.
    AssignmentChanges {
        upsert: Vec<Assignment>,
        /// Task ids whose containers the node removes.
        remove: Vec<String>,
    },
    /// The whole ingress table: every port published in ingress mode in the
    /// cluster with the backends it forwards to. Sent after `assignments`
    /// and whenever it changes; each replaces the last.
    Ingress(IngressTable),
}

/// What the routing mesh publishes on every node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressTable {
    /// Grows with every change, so an agent's status says which table it
    /// runs (and the server knows when a withdrawn backend is gone everywhere).
    pub version: u64,
    pub ports: Vec<IngressPort>,
    /// Every service on a network, with its virtual address and backends:
    /// what agents answer and open inside the containers on its networks.
    #[serde(default)]
    pub services: Vec<NetworkedService>,
}

/// A service as the tasks on its networks reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkedService {
    pub service_id: String,
    pub service_name: String,
    /// The networks it is on, by name.
    pub networks: Vec<String>,
    /// Its virtual address (`network::virtual_address`), fixed for the
    /// service's life: `NAME` and `NAME.NETWORK` resolve to it.
    pub address: std::net::Ipv4Addr,
    /// Each target port with the ready tasks behind it, chosen as for
    /// ingress (ready, wanted running, on a node that is up; a task being
    /// stopped is left out first, which drains it).
    pub ports: Vec<NetworkedPort>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkedPort {
    pub target: u16,
    pub protocol: Protocol,
    pub backends: Vec<Backend>,
}

/// One published port of one service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressPort {
    pub published: u16,
    pub protocol: Protocol,
    pub service_id: String,
    pub service_name: String,
    /// The healthy tasks to balance across; empty means connections are
    /// refused until one is.
    pub backends: Vec<Backend>,
}

/// A task's container port as reachable from other nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub task_id: String,
    pub node_id: String,
    /// `ip:port`: the task's node address and its host-mapped port.
    pub addr: String,
}

/// The agent's side of the mesh.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressStatus {
    /// The table version applied.
    pub version: u64,
    pub ports: Vec<ListenerStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerStatus {
    pub published: u16,
    pub protocol: Protocol,
    /// Where the node listens, `ip:port`.
    pub addr: String,
    /// Why the node cannot listen ("address already in use"), if it cannot.
    pub error: Option<String>,
    /// Task ids this node forwards to now.
    pub backends: Vec<String>,
    pub metrics: PortMetrics,
}

/// Counters since the agent started listening on the port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMetrics {
    pub connections: u64,
    pub active: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Connections no backend would take, and backends that refused one
    /// (retried on another).
    pub errors: u64,
    pub retries: u64,
}

/// One task the node runs (or stops, when `desired` is `shutdown`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub task_id: String,
    pub service_id: String,
    pub service_name: String,
    /// Replicated services: the slot. Global: `None`.
    pub slot: Option<u64>,
    pub revision: u64,
    pub desired: DesiredState,
    pub container: ContainerSpec,
}

/// What the agent needs to run a task's container; taken from the service
/// spec by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    pub ports: Vec<PortConfig>,
    /// The service's networks: the agent answers names and opens virtual
    /// addresses inside the container for the services sharing one.
    #[serde(default)]
    pub networks: Vec<String>,
    pub healthcheck: Option<HealthCheck>,
    #[serde(default)]
    pub probe: Option<Probe>,
    /// Limits in Docker's units: nano-CPUs and bytes.
    pub nano_cpus: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub stop_grace_period: Duration,
    pub pull_policy: PullPolicy,
    pub registry_auth: Option<RegistryAuth>,
}

/// A task's state as its node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReport {
    pub task_id: String,
    pub state: TaskState,
    /// Why ("pulling shoal-demo:v2", "started", "exited with code 1").
    pub message: String,
    pub error: Option<String>,
    pub container_id: Option<String>,
    pub exit_code: Option<i64>,
    /// `None` when the container has no health check or probe, or while
    /// they are still starting (see `health_starting`).
    pub healthy: Option<bool>,
    /// The task has a health check or probe that has neither passed nor
    /// failed yet: `healthy` is `None` but the task is not known healthy.
    /// The updater waits for it rather than counting the task as updated.
    #[serde(default)]
    pub health_starting: bool,
    pub ports: Vec<PortBinding>,
}

/// Where a container's port is reachable on its node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub target: u16,
    pub protocol: Protocol,
    pub host_ip: String,
    pub host_port: u16,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub protocol: u32,
    /// The secret part of the join token.
    pub secret: String,
    /// PEM certificate signing request for the key the agent generated; the
    /// key never leaves the node.
    pub csr_pem: String,
    pub labels: BTreeMap<String, String>,
    pub inventory: Inventory,
}

/// Keeps the join secret out of logs.
impl std::fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinRequest")
            .field("protocol", &self.protocol)
            .field("labels", &self.labels)
            .field("inventory", &self.inventory)
            .finish_non_exhaustive()
    }
}

/// What a node offers and runs, reported at every connect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: u64,
    pub memory_bytes: u64,
    pub engine_version: String,
    pub agent_version: String,
    /// The address the node wants to be known by; without it the server
    /// records the address the connection came from.
    pub advertise_addr: Option<String>,
}

/// Longest text field of an inventory, beyond the hostname.
const INVENTORY_TEXT_MAX: usize = 128;

impl Inventory {
    /// The address the node is known by: the one it asked for, or the one its
    /// connection came from.
    pub fn address(&self, peer: std::net::IpAddr) -> String {
        self.advertise_addr
            .clone()
            .unwrap_or_else(|| peer.to_canonical().to_string())
    }

    pub fn check(&self) -> Result<(), FieldError> {
        check_hostname(&self.hostname)?;
        if let Some(addr) = &self.advertise_addr {
            check_address(addr)?;
        }
        for (field, value) in [
            ("os", &self.os),
            ("arch", &self.arch),
            ("engine_version", &self.engine_version),
            ("agent_version", &self.agent_version),
        ] {
            if value.len() > INVENTORY_TEXT_MAX || value.chars().any(char::is_control) {
                return Err(FieldError::new(
                    field,
                    format!("at most {INVENTORY_TEXT_MAX} characters, no control characters"),
                ));
            }
        }
        Ok(())
    }
}

/// An address a node advertises: a host name or an IP address, with or
/// without a port.
pub fn check_address(addr: &str) -> Result<(), FieldError> {
    if addr.is_empty()
        || addr.len() > HOSTNAME_MAX
        || addr.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(FieldError::new(
            "advertise_addr",
            "give a host name or an IP address, without spaces",
        ));
    }
    Ok(())
}

/// The IP address in a node address: `10.0.0.5`, `10.0.0.5:8302`,
/// `fd00::1`, `[fd00::1]` or `[fd00::1]:8302`; `None` for a host name.
pub fn address_ip(addr: &str) -> Option<std::net::IpAddr> {
    addr.parse()
        .ok()
        .or_else(|| {
            addr.parse::<std::net::SocketAddr>()
                .ok()
                .map(|socket| socket.ip())
        })
        .or_else(|| addr.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// A joined node's identity: its id and the client certificate the cluster
/// CA issued for the key the agent generated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    pub node_id: String,
    pub certificate_pem: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub node_id: String,
    pub server_version: String,
    /// How often the agent sends a heartbeat.
    pub heartbeat_interval_ms: u64,
    /// How many intervals without a heartbeat make the node `down`; the
    /// agent gives up on a silent server after as many.
    pub heartbeat_misses: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: RefusalCode,
    /// For the user: what happened and what to do.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The agent and the server speak different protocol versions.
    UnsupportedProtocol,
    /// The join token is wrong or was rotated.
    BadToken,
    /// A message the server cannot accept (malformed, out of order, invalid).
    Invalid,
    /// An admin removed this node; its identity no longer works.
    NodeRemoved,
    /// The client certificate names no node of this cluster.
    UnknownNode,
    /// The server cannot serve the agent right now; trying again may work.
    Unavailable,
}

impl RefusalCode {
    /// Whether retrying the same thing can ever succeed: an agent retries
    /// after `unavailable` and gives up on everything else.
    pub fn is_permanent(self) -> bool {
        self != Self::Unavailable
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read the peer's message: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

/// One message as a frame body.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // The messages are plain structs with string-keyed maps, which JSON
    // always represents.
    serde_json::to_vec(message).expect("protocol messages serialize to JSON")
}

pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, DecodeError> {
    Ok(serde_json::from_slice(frame)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let frame = encode(&AgentMessage::Heartbeat);
        assert_eq!(frame, br#"{"type":"heartbeat"}"#);
        let hello: AgentMessage = decode(br#"{"type":"hello","protocol":1}"#).unwrap();
        assert_eq!(hello, AgentMessage::Hello { protocol: 1 });
        let refused = encode(&ServerMessage::Refused(Refusal {
            code: RefusalCode::NodeRemoved,
            message: "gone".into(),
        }));
        assert_eq!(
            String::from_utf8(refused).unwrap(),
            r#"{"type":"refused","code":"node_removed","message":"gone"}"#
        );
    }

    #[test]
    fn every_message_round_trips() {
        let inventory = Inventory {
            hostname: "node-1".into(),
            cpus: 2,
            advertise_addr: Some("10.0.0.1".into()),
            ..Inventory::default()
        };
        for message in [
            AgentMessage::FetchCa { protocol: 1 },
            AgentMessage::Join(JoinRequest {
                protocol: 1,
                secret: "s".into(),
                csr_pem: "csr".into(),
                labels: [("zone".to_owned(), "a".to_owned())].into(),
                inventory: inventory.clone(),
            }),
            AgentMessage::Inventory(inventory),
        ] {
            assert_eq!(decode::<AgentMessage>(&encode(&message)).unwrap(), message);
        }
        let welcome = ServerMessage::Welcome(Welcome {
            node_id: "n1".into(),
            server_version: "0.1.0".into(),
            heartbeat_interval_ms: 5000,
            heartbeat_misses: 3,
        });
        assert_eq!(decode::<ServerMessage>(&encode(&welcome)).unwrap(), welcome);
    }

    #[test]
    fn unknown_messages_are_a_decode_error() {
        assert!(decode::<AgentMessage>(br#"{"type":"launch_missiles"}"#).is_err());
        assert!(decode::<AgentMessage>(b"not json").is_err());
    }

    #[test]
    fn the_largest_valid_join_fits_in_an_opening_frame() {
        use crate::node::{LABEL_KEY_MAX, LABEL_VALUE_MAX, LABELS_MAX, check_labels};
        // Quotes take two bytes each in JSON: the longest encoding of a value.
        let labels: BTreeMap<String, String> = (0..LABELS_MAX)
            .map(|i| (format!("{i:0>LABEL_KEY_MAX$}"), "\"".repeat(LABEL_VALUE_MAX)))
            .collect();
        check_labels(&labels).unwrap();
        let text = "\"".repeat(INVENTORY_TEXT_MAX);
        let inventory = Inventory {
            hostname: "a".repeat(crate::node::HOSTNAME_MAX),
            os: text.clone(),
            arch: text.clone(),
            cpus: u64::MAX,
            memory_bytes: u64::MAX,
            engine_version: text.clone(),
            agent_version: text,
            advertise_addr: Some("b".repeat(crate::node::HOSTNAME_MAX)),
        };
        inventory.check().unwrap();
        let join = AgentMessage::Join(JoinRequest {
            protocol: PROTOCOL_VERSION,
            secret: "f".repeat(64),
            // An RSA-4096 request is under 2 KiB as PEM; P-256 is what agents send.
            csr_pem: "c".repeat(4096),
            labels,
            inventory,
        });
        let size = encode(&join).len();
        assert!(size < OPENING_FRAME_BYTES, "{size} bytes");
    }

    #[test]
    fn the_join_secret_stays_out_of_debug_output() {
        let request = JoinRequest {
            protocol: 1,
            secret: "topsecret".into(),
            csr_pem: String::new(),
            labels: BTreeMap::new(),
            inventory: Inventory::default(),
        };
        assert!(!format!("{request:?}").contains("topsecret"));
    }

    #[test]
    fn inventories_are_checked_and_name_an_address() {
        let mut inventory = Inventory {
            hostname: "node-1".into(),
            ..Inventory::default()
        };
        assert!(inventory.check().is_ok());
        let peer: std::net::IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(inventory.address(peer), "10.0.0.7");
        inventory.advertise_addr = Some("node-1.lan".into());
        assert_eq!(inventory.address(peer), "node-1.lan");
        inventory.advertise_addr = Some("two words".into());
        assert_eq!(inventory.check().unwrap_err().field, "advertise_addr");
        inventory.advertise_addr = None;
        inventory.os = "linux\n".into();
        assert_eq!(inventory.check().unwrap_err().field, "os");
        inventory.hostname = String::new();
        assert_eq!(inventory.check().unwrap_err().field, "hostname");
    }

    #[test]
    fn only_unavailability_is_worth_a_retry() {
        assert!(!RefusalCode::Unavailable.is_permanent());
        assert!(RefusalCode::NodeRemoved.is_permanent());
        assert!(RefusalCode::BadToken.is_permanent());
    }
}
