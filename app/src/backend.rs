//! The seam between the console's server functions and the server that hosts
//! them. The server crate implements [`Backend`] and puts it into the Leptos
//! context, so the console never depends on the store or the orchestrator.
//! Every method checks the caller's role on the server side: hiding a button
//! in the console is a courtesy, never the protection.

use std::sync::Arc;

use leptos::prelude::*;
use shoal_proto::{
    auth::{ApiToken, AuditPage, AuditQuery, CreatedApiToken, Me, NewApiToken, NewUser, User, UserChange},
    dashboard::Dashboard,
    ingress::ServiceIngress,
    network::{Network, NewNetwork},
    node::{JoinToken, JoinTokens, Node, NodeChange, NodeRole},
    service::{Revision, RevisionDiff, Rollout, RolloutDetail, Service, ServiceSpec, Task, TaskFilter},
    status::ServerStatus,
    webhook::{CreatedWebhook, Delivery, NewWebhook, Webhook, WebhookChange},
};

/// The logged-in user of a console page request, resolved by the server
/// before the page renders and put into the request's extensions: the
/// console's guards and menus decide from it without waiting.
#[derive(Clone, Debug)]
pub struct SignedIn(pub Option<shoal_proto::auth::Me>);

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn status(&self) -> Result<ServerStatus, ServerFnError>;
    /// The cluster at a glance: nodes, services by health, rollouts, failing
    /// tasks and recent cluster events.
    async fn dashboard(&self) -> Result<Dashboard, ServerFnError>;

    async fn login(&self, username: String, password: String) -> Result<Me, ServerFnError>;
    async fn logout(&self) -> Result<(), ServerFnError>;
    /// Whether a first-admin setup link's token is still usable.
    async fn setup_token_valid(&self, token: String) -> Result<bool, ServerFnError>;
    async fn setup_admin(
        &self,
        token: String,
        username: String,
        password: String,
    ) -> Result<Me, ServerFnError>;

    async fn list_users(&self) -> Result<Vec<User>, ServerFnError>;
    async fn create_user(&self, user: NewUser) -> Result<User, ServerFnError>;
    async fn update_user(&self, id: String, change: UserChange) -> Result<User, ServerFnError>;
    async fn delete_user(&self, id: String) -> Result<(), ServerFnError>;

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, ServerFnError>;
    async fn create_token(&self, token: NewApiToken) -> Result<CreatedApiToken, ServerFnError>;
    async fn revoke_token(&self, id: String) -> Result<(), ServerFnError>;

    async fn audit(&self, query: AuditQuery) -> Result<AuditPage, ServerFnError>;

    async fn list_nodes(&self) -> Result<Vec<Node>, ServerFnError>;
    async fn update_node(&self, id: String, change: NodeChange) -> Result<Node, ServerFnError>;
    async fn set_node_role(&self, id: String, role: NodeRole) -> Result<Node, ServerFnError>;
    async fn remove_node(&self, id: String, force: bool) -> Result<(), ServerFnError>;
    async fn join_tokens(&self) -> Result<JoinTokens, ServerFnError>;
    async fn rotate_join_token(&self, role: String) -> Result<JoinToken, ServerFnError>;

    async fn list_services(&self) -> Result<Vec<Service>, ServerFnError>;
    /// By id or by name.
    async fn get_service(&self, id: String) -> Result<Service, ServerFnError>;
    async fn create_service(&self, spec: ServiceSpec) -> Result<Service, ServerFnError>;
    /// Replaces the spec: a new revision.
    async fn update_service(&self, id: String, spec: ServiceSpec) -> Result<Service, ServerFnError>;
    async fn scale_service(&self, id: String, replicas: u64) -> Result<Service, ServerFnError>;
    async fn delete_service(&self, id: String) -> Result<(), ServerFnError>;
    /// Newest first.
    async fn service_revisions(&self, id: String) -> Result<Vec<Revision>, ServerFnError>;
    async fn revision_diff(&self, id: String, from: u64, to: u64) -> Result<RevisionDiff, ServerFnError>;
    async fn list_tasks(&self, filter: TaskFilter) -> Result<Vec<Task>, ServerFnError>;
    /// Where the service's published ports are published and what they forward to.
    async fn service_ingress(&self, id: String) -> Result<ServiceIngress, ServerFnError>;

    /// Newest first.
    /// The service's newest rollout in detail, if it ever had one.
    async fn newest_rollout(&self, service: String) -> Result<Option<RolloutDetail>, ServerFnError>;
    async fn pause_rollout(&self, id: String) -> Result<Rollout, ServerFnError>;
    async fn resume_rollout(&self, id: String) -> Result<Rollout, ServerFnError>;
    async fn abort_rollout(&self, id: String) -> Result<Rollout, ServerFnError>;
    /// To `revision`, or to the one before the current.
    async fn rollback_service(&self, id: String, revision: Option<u64>) -> Result<Rollout, ServerFnError>;

    /// Every network with its services.
    async fn list_networks(&self) -> Result<Vec<Network>, ServerFnError>;
    async fn create_network(&self, new: NewNetwork) -> Result<Network, ServerFnError>;
    /// Refused while a service is on it.
    async fn delete_network(&self, id: String) -> Result<(), ServerFnError>;

    /// The webhooks of a service (by id or name).
    async fn list_webhooks(&self, service: String) -> Result<Vec<Webhook>, ServerFnError>;
    async fn create_webhook(&self, service: String, new: NewWebhook)
    -> Result<CreatedWebhook, ServerFnError>;
    async fn update_webhook(&self, id: String, change: WebhookChange) -> Result<Webhook, ServerFnError>;
    /// New secrets; the old ones stop working at once.
    async fn rotate_webhook(&self, id: String) -> Result<CreatedWebhook, ServerFnError>;
    async fn delete_webhook(&self, id: String) -> Result<(), ServerFnError>;
    /// Newest first.
    async fn webhook_deliveries(&self, id: String) -> Result<Vec<Delivery>, ServerFnError>;
}

pub type SharedBackend = Arc<dyn Backend>;

/// The backend the hosting server provided for this request.
pub fn use_backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| ServerFnError::new("the console backend is missing from the request context"))
}
