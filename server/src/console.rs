//! The console's server functions, answered by this server.

use std::time::Instant;

use leptos::prelude::ServerFnError;
use shoal_app::backend::Backend;
use shoal_proto::status::ServerStatus;

use crate::store::Store;

pub struct ConsoleBackend {
    pub store: Store,
    pub cluster_id: String,
    pub started: Instant,
}

#[async_trait::async_trait]
impl Backend for ConsoleBackend {
    async fn status(&self) -> Result<ServerStatus, ServerFnError> {
        Ok(ServerStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            cluster_id: self.cluster_id.clone(),
            database: self.store.kind().display_name().to_owned(),
            uptime_secs: self.started.elapsed().as_secs(),
        })
    }
}
