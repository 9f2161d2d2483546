//! The node's inventory as the server records it, from the engine's facts.

use shoal_proto::wire::Inventory;

use crate::{engine::EngineInfo, identity::NodeMeta};

pub fn inventory(info: &EngineInfo, meta: &NodeMeta) -> Inventory {
    Inventory {
        hostname: meta.hostname.clone(),
        os: info.os.clone(),
        arch: info.arch.clone(),
        cpus: info.cpus,
        memory_bytes: info.memory_bytes,
        engine_version: info.engine_version.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        advertise_addr: meta.advertise_addr.clone(),
    }
}
