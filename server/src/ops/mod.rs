//! What the server does on behalf of a caller, shared by the REST API and the
//! console's server functions. Role checks happen before these run (see
//! `auth::authorize`); the rules that depend on data (the last admin, a
//! token's role, whose token it is) live here, with the audit records.

pub mod audit;
pub mod dashboard;
pub mod ingress;
pub mod join_tokens;
pub mod nodes;
pub mod rollouts;
pub mod services;
pub mod session;
pub mod setup;
pub mod status;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::{sync::Arc, time::Instant};

use crate::{
    auth::{session::SessionSettings, throttle::Throttle},
    ca::ClusterCa,
    dispatcher::Dispatcher,
    events::EventBus,
    hooks::Hooks,
    ingress::Ingress,
    orchestrator::Orchestrator,
    presence::{Heartbeat, Presence},
    store::Store,
};

/// The shared state every operation works with.
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub throttle: Arc<Throttle>,
    pub sessions: SessionSettings,
    pub cluster_id: Arc<str>,
    pub started: Instant,
    pub ca: Arc<ClusterCa>,
    /// Which nodes are connected; live status lives here, not in the store.
    pub presence: Arc<Presence>,
    pub events: EventBus,
    pub heartbeat: Heartbeat,
    /// The address agents dial, as join commands name it.
    pub agent_address: Arc<str>,
    /// How long a node may stay down before its tasks move elsewhere
    /// (beyond the heartbeat tolerance).
    pub reschedule_after: std::time::Duration,
    pub orchestrator: Orchestrator,
    pub dispatcher: Arc<Dispatcher>,
    pub hooks: Arc<Hooks>,
    pub ingress: Arc<Ingress>,
}
