//! Server functions: the only way the console reaches the server. They live
//! under `/rpc/` so that `/api/` belongs to the public REST API alone.

use leptos::prelude::*;
use shoal_proto::status::ServerStatus;

#[server(prefix = "/rpc")]
pub async fn get_server_status() -> Result<ServerStatus, ServerFnError> {
    crate::backend::use_backend()?.status().await
}
