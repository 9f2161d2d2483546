//! Server functions: the only way the console reaches the server. They live
//! under `/rpc/` so that `/api/` belongs to the public REST API alone. Each is
//! a thin call into the server's [`Backend`](crate::backend::Backend), which
//! authorizes the caller.

use leptos::prelude::*;
use shoal_proto::{
    auth::{ApiToken, AuditPage, AuditQuery, CreatedApiToken, Me, Role, User, UserChange},
    dashboard::Dashboard,
    ingress::ServiceIngress,
    network::Network,
    node::{JoinToken, JoinTokens, Node, NodeChange, NodeRole},
    service::{Revision, RevisionDiff, Rollout, RolloutDetail, Service, ServiceSpec, Task, TaskFilter},
    status::ServerStatus,
    webhook::{CreatedWebhook, Delivery, NewWebhook, Webhook, WebhookChange},
};
// A spec nests lists of objects, which form encoding cannot carry.
use server_fn::codec::Json;
use text_json::JsonText;

#[cfg(feature = "ssr")]
use crate::backend::use_backend;
#[cfg(feature = "ssr")]
use shoal_proto::{
    auth::{NewApiToken, NewUser},
    network::NewNetwork,
};

#[server(prefix = "/rpc", output = JsonText)]
pub async fn get_server_status() -> Result<ServerStatus, ServerFnError> {
    use_backend()?.status().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn get_dashboard() -> Result<Dashboard, ServerFnError> {
    use_backend()?.dashboard().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn login(username: String, password: String) -> Result<Me, ServerFnError> {
    use_backend()?.login(username, password).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn logout() -> Result<(), ServerFnError> {
    use_backend()?.logout().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn check_setup_token(token: String) -> Result<bool, ServerFnError> {
    use_backend()?.setup_token_valid(token).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn setup_admin(token: String, username: String, password: String) -> Result<Me, ServerFnError> {
    use_backend()?.setup_admin(token, username, password).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn list_users() -> Result<Vec<User>, ServerFnError> {
    use_backend()?.list_users().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn create_user(username: String, password: String, role: Role) -> Result<User, ServerFnError> {
    use_backend()?
        .create_user(NewUser {
            username,
            password,
            role,
        })
        .await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn update_user(id: String, change: UserChange) -> Result<User, ServerFnError> {
    use_backend()?.update_user(id, change).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn delete_user(id: String) -> Result<(), ServerFnError> {
    use_backend()?.delete_user(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn list_tokens() -> Result<Vec<ApiToken>, ServerFnError> {
    use_backend()?.list_tokens().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn create_token(
    name: String,
    role: Role,
    expires_in_days: Option<u32>,
) -> Result<CreatedApiToken, ServerFnError> {
    use_backend()?
        .create_token(NewApiToken {
            name,
            role,
            expires_in_days,
        })
        .await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn revoke_token(id: String) -> Result<(), ServerFnError> {
    use_backend()?.revoke_token(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn get_audit(query: AuditQuery) -> Result<AuditPage, ServerFnError> {
    use_backend()?.audit(query).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn list_nodes() -> Result<Vec<Node>, ServerFnError> {
    use_backend()?.list_nodes().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn update_node(id: String, change: NodeChange) -> Result<Node, ServerFnError> {
    use_backend()?.update_node(id, change).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn set_node_role(id: String, role: NodeRole) -> Result<Node, ServerFnError> {
    use_backend()?.set_node_role(id, role).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn remove_node(id: String, force: bool) -> Result<(), ServerFnError> {
    use_backend()?.remove_node(id, force).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn get_join_tokens() -> Result<JoinTokens, ServerFnError> {
    use_backend()?.join_tokens().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn rotate_join_token(role: String) -> Result<JoinToken, ServerFnError> {
    use_backend()?.rotate_join_token(role).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn list_services() -> Result<Vec<Service>, ServerFnError> {
    use_backend()?.list_services().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn get_service(id: String) -> Result<Service, ServerFnError> {
    use_backend()?.get_service(id).await
}

#[server(prefix = "/rpc", input = Json, output = JsonText)]
pub async fn create_service(spec: ServiceSpec) -> Result<Service, ServerFnError> {
    use_backend()?.create_service(spec).await
}

#[server(prefix = "/rpc", input = Json, output = JsonText)]
pub async fn update_service(id: String, spec: ServiceSpec) -> Result<Service, ServerFnError> {
    use_backend()?.update_service(id, spec).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn scale_service(id: String, replicas: u64) -> Result<Service, ServerFnError> {
    use_backend()?.scale_service(id, replicas).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn delete_service(id: String) -> Result<(), ServerFnError> {
    use_backend()?.delete_service(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn list_service_revisions(id: String) -> Result<Vec<Revision>, ServerFnError> {
    use_backend()?.service_revisions(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn get_revision_diff(id: String, from: u64, to: u64) -> Result<RevisionDiff, ServerFnError> {
    use_backend()?.revision_diff(id, from, to).await
}

#[server(prefix = "/rpc", input = Json, output = JsonText)]
pub async fn list_tasks(filter: TaskFilter) -> Result<Vec<Task>, ServerFnError> {
    use_backend()?.list_tasks(filter).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn get_service_ingress(id: String) -> Result<ServiceIngress, ServerFnError> {
    use_backend()?.service_ingress(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn get_newest_rollout(service: String) -> Result<Option<RolloutDetail>, ServerFnError> {
    use_backend()?.newest_rollout(service).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn pause_rollout(id: String) -> Result<Rollout, ServerFnError> {
    use_backend()?.pause_rollout(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn resume_rollout(id: String) -> Result<Rollout, ServerFnError> {
    use_backend()?.resume_rollout(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn abort_rollout(id: String) -> Result<Rollout, ServerFnError> {
    use_backend()?.abort_rollout(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn rollback_service(id: String, revision: Option<u64>) -> Result<Rollout, ServerFnError> {
    use_backend()?.rollback_service(id, revision).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn list_webhooks(service: String) -> Result<Vec<Webhook>, ServerFnError> {
    use_backend()?.list_webhooks(service).await
}

#[server(prefix = "/rpc", input = Json, output = JsonText)]
pub async fn create_webhook(service: String, new: NewWebhook) -> Result<CreatedWebhook, ServerFnError> {
    use_backend()?.create_webhook(service, new).await
}

#[server(prefix = "/rpc", input = Json, output = JsonText)]
pub async fn update_webhook(id: String, change: WebhookChange) -> Result<Webhook, ServerFnError> {
    use_backend()?.update_webhook(id, change).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn rotate_webhook(id: String) -> Result<CreatedWebhook, ServerFnError> {
    use_backend()?.rotate_webhook(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn delete_webhook(id: String) -> Result<(), ServerFnError> {
    use_backend()?.delete_webhook(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn list_webhook_deliveries(id: String) -> Result<Vec<Delivery>, ServerFnError> {
    use_backend()?.webhook_deliveries(id).await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn list_networks() -> Result<Vec<Network>, ServerFnError> {
    use_backend()?.list_networks().await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn create_network(
    name: String,
    encrypted: bool,
    proxy_protocol: bool,
) -> Result<Network, ServerFnError> {
    use_backend()?
        .create_network(NewNetwork {
            name,
            encrypted,
            proxy_protocol,
        })
        .await
}

#[server(prefix = "/rpc", output = JsonText)]
pub async fn delete_network(id: String) -> Result<(), ServerFnError> {
    use_backend()?.delete_network(id).await
}

/// The answers of the server functions: JSON, as server_fn's own `Json`, but
/// read in the browser with `serde_json::from_str` rather than `from_slice`.
/// The data a page hydrates from is read with `from_str`; reading answers
/// another way compiled every type's JSON reader into the wasm twice (about
/// 200 KB before wasm-opt). The bytes on the wire are the same.
mod text_json {
    use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType, codec::Post};
    use serde::{Serialize, de::DeserializeOwned};

    pub struct JsonTextEncoding;

    pub type JsonText = Post<JsonTextEncoding>;

    impl ContentType for JsonTextEncoding {
        const CONTENT_TYPE: &'static str = "application/json";
    }

    impl FormatType for JsonTextEncoding {
        const FORMAT_TYPE: Format = Format::Text;
    }

    impl<T: Serialize> Encodes<T> for JsonTextEncoding {
        type Error = serde_json::Error;

        fn encode(output: &T) -> Result<Bytes, serde_json::Error> {
            serde_json::to_vec(output).map(Bytes::from)
        }
    }

    impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
        type Error = serde_json::Error;

        fn decode(bytes: Bytes) -> Result<T, serde_json::Error> {
            let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
            serde_json::from_str(text)
        }
    }
}
