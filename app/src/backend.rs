//! The seam between the console's server functions and the server that hosts
//! them. The server crate implements [`Backend`] and puts it into the Leptos
//! context, so the console never depends on the store or the orchestrator.

use std::sync::Arc;

use leptos::prelude::*;
use shoal_proto::status::ServerStatus;

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn status(&self) -> Result<ServerStatus, ServerFnError>;
}

pub type SharedBackend = Arc<dyn Backend>;

/// The backend the hosting server provided for this request.
pub fn use_backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| ServerFnError::new("the console backend is missing from the request context"))
}
