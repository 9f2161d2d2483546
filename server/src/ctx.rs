//! The handles every part of the server works with: the store, the event
//! bus, who is connected, and the wake-up and nudge channels of the loops
//! that run in the background. Only handles live here, so the loops that
//! take a `Ctx` (orchestrator, ingress, agent sessions, webhook delivery)
//! sit above it and none of them is imported back.

use std::{sync::Arc, time::Instant};

use crate::{
    auth::{proxy::Cidr, session::SessionSettings, throttle::Throttle},
    ca::ClusterCa,
    dispatcher::Dispatcher,
    events::EventBus,
    hooks::gate::Hooks,
    ingress::Ingress,
    orchestrator::wake::Orchestrator,
    presence::{Heartbeat, Presence},
    store::Store,
};

/// The shared state every operation works with.
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub throttle: Arc<Throttle>,
    pub sessions: SessionSettings,
    /// Reverse proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Arc<[Cidr]>,
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
