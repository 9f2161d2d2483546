//! The console's server functions, answered by this server: each resolves
//! the caller the authentication middleware attached to the request, applies
//! the server-function access table, and calls the shared operations.

use leptos::{
    prelude::{ServerFnError, use_context},
    server_fn::ServerFn,
};
use leptos_axum::ResponseOptions;
use shoal_app::{backend::Backend, rpc};
use shoal_proto::{
    auth::{
        ApiToken, AuditPage, AuditQuery, CreatedApiToken, LoginRequest, Me, NewApiToken, NewUser, User,
        UserChange,
    },
    dashboard::Dashboard,
    ingress::ServiceIngress,
    network::{Network, NewNetwork},
    node::{JoinToken, JoinTokens, Node, NodeChange, NodeRole, RemoveNode, RoleChange},
    service::{Revision, RevisionDiff, Rollout, RolloutDetail, Service, ServiceSpec, Task, TaskFilter},
    status::ServerStatus,
    webhook::{CreatedWebhook, Delivery, NewWebhook, Webhook, WebhookChange},
};

use crate::{auth::Caller, ctx::Ctx, error::AppError, http::rpc::authorize_call, ops};

pub struct ConsoleBackend {
    pub ctx: Ctx,
}

/// The caller of the current request, checked against the access rule of
/// server function `F`.
fn caller_for<F: ServerFn>() -> Result<Caller, ServerFnError> {
    let caller = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>().cloned())
        .ok_or_else(|| fail(AppError::Internal("no caller resolved for this request".into())))?;
    authorize_call(F::PATH, &caller).map_err(fail)?;
    Ok(caller)
}

/// Sets the response status the error deserves and hands the console the
/// message meant for the user.
fn fail(error: AppError) -> ServerFnError {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(error.status());
    }
    ServerFnError::ServerError(error.public_message())
}

#[async_trait::async_trait]
impl Backend for ConsoleBackend {
    async fn status(&self) -> Result<ServerStatus, ServerFnError> {
        caller_for::<rpc::GetServerStatus>()?;
        Ok(ops::status::status(&self.ctx))
    }

    async fn dashboard(&self) -> Result<Dashboard, ServerFnError> {
        caller_for::<rpc::GetDashboard>()?;
        ops::dashboard::summary(&self.ctx).await.map_err(fail)
    }

    async fn login(&self, username: String, password: String) -> Result<Me, ServerFnError> {
        let caller = caller_for::<rpc::Login>()?;
        ops::session::login(&self.ctx, &caller, LoginRequest { username, password })
            .await
            .map_err(fail)
    }

    async fn logout(&self) -> Result<(), ServerFnError> {
        let caller = caller_for::<rpc::Logout>()?;
        ops::session::logout(&self.ctx, &caller).await.map_err(fail)
    }

    async fn setup_token_valid(&self, token: String) -> Result<bool, ServerFnError> {
        caller_for::<rpc::CheckSetupToken>()?;
        ops::setup::link_token_valid(&self.ctx, &token)
            .await
            .map_err(fail)
    }

    async fn setup_admin(
        &self,
        token: String,
        username: String,
        password: String,
    ) -> Result<Me, ServerFnError> {
        let caller = caller_for::<rpc::SetupAdmin>()?;
        ops::setup::create_first_admin(&self.ctx, &caller, &token, &username, password)
            .await
            .map_err(fail)
    }

    async fn list_users(&self) -> Result<Vec<User>, ServerFnError> {
        caller_for::<rpc::ListUsers>()?;
        ops::users::list(&self.ctx).await.map_err(fail)
    }

    async fn create_user(&self, user: NewUser) -> Result<User, ServerFnError> {
        let caller = caller_for::<rpc::CreateUser>()?;
        ops::users::create(&self.ctx, &caller, user).await.map_err(fail)
    }

    async fn update_user(&self, id: String, change: UserChange) -> Result<User, ServerFnError> {
        let caller = caller_for::<rpc::UpdateUser>()?;
        ops::users::update(&self.ctx, &caller, &id, change)
            .await
            .map_err(fail)
    }

    async fn delete_user(&self, id: String) -> Result<(), ServerFnError> {
        let caller = caller_for::<rpc::DeleteUser>()?;
        ops::users::delete(&self.ctx, &caller, &id).await.map_err(fail)
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, ServerFnError> {
        let caller = caller_for::<rpc::ListTokens>()?;
        ops::tokens::list_own(&self.ctx, &caller).await.map_err(fail)
    }

    async fn create_token(&self, token: NewApiToken) -> Result<CreatedApiToken, ServerFnError> {
        let caller = caller_for::<rpc::CreateToken>()?;
        ops::tokens::create(&self.ctx, &caller, token).await.map_err(fail)
    }

    async fn revoke_token(&self, id: String) -> Result<(), ServerFnError> {
        let caller = caller_for::<rpc::RevokeToken>()?;
        ops::tokens::revoke_own(&self.ctx, &caller, &id)
            .await
            .map_err(fail)
    }

    async fn audit(&self, query: AuditQuery) -> Result<AuditPage, ServerFnError> {
        caller_for::<rpc::GetAudit>()?;
        ops::audit::page(&self.ctx, query).await.map_err(fail)
    }

    async fn list_nodes(&self) -> Result<Vec<Node>, ServerFnError> {
        caller_for::<rpc::ListNodes>()?;
        ops::nodes::list(&self.ctx).await.map_err(fail)
    }

    async fn update_node(&self, id: String, change: NodeChange) -> Result<Node, ServerFnError> {
        let caller = caller_for::<rpc::UpdateNode>()?;
        ops::nodes::update(&self.ctx, &caller, &id, change)
            .await
            .map_err(fail)
    }

    async fn set_node_role(&self, id: String, role: NodeRole) -> Result<Node, ServerFnError> {
        let caller = caller_for::<rpc::SetNodeRole>()?;
        ops::nodes::set_role(&self.ctx, &caller, &id, RoleChange { role })
            .await
            .map_err(fail)
    }

    async fn remove_node(&self, id: String, force: bool) -> Result<(), ServerFnError> {
        let caller = caller_for::<rpc::RemoveNode>()?;
        ops::nodes::remove(&self.ctx, &caller, &id, RemoveNode { force })
            .await
            .map_err(fail)
    }

    async fn join_tokens(&self) -> Result<JoinTokens, ServerFnError> {
        caller_for::<rpc::GetJoinTokens>()?;
        ops::join_tokens::view(&self.ctx).await.map_err(fail)
    }

    async fn rotate_join_token(&self, role: String) -> Result<JoinToken, ServerFnError> {
        let caller = caller_for::<rpc::RotateJoinToken>()?;
        ops::join_tokens::rotate(&self.ctx, &caller, &role)
            .await
            .map_err(fail)
    }

    async fn list_services(&self) -> Result<Vec<Service>, ServerFnError> {
        caller_for::<rpc::ListServices>()?;
        ops::services::list(&self.ctx).await.map_err(fail)
    }

    async fn get_service(&self, id: String) -> Result<Service, ServerFnError> {
        caller_for::<rpc::GetService>()?;
        ops::services::get(&self.ctx, &id).await.map_err(fail)
    }

    async fn create_service(&self, spec: ServiceSpec) -> Result<Service, ServerFnError> {
        let caller = caller_for::<rpc::CreateService>()?;
        ops::services::create(&self.ctx, &caller, spec)
            .await
            .map_err(fail)
    }

    async fn update_service(&self, id: String, spec: ServiceSpec) -> Result<Service, ServerFnError> {
        let caller = caller_for::<rpc::UpdateService>()?;
        ops::services::update(&self.ctx, &caller, &id, spec)
            .await
            .map_err(fail)
    }

    async fn scale_service(&self, id: String, replicas: u64) -> Result<Service, ServerFnError> {
        let caller = caller_for::<rpc::ScaleService>()?;
        ops::services::scale(&self.ctx, &caller, &id, replicas)
            .await
            .map_err(fail)
    }

    async fn delete_service(&self, id: String) -> Result<(), ServerFnError> {
        let caller = caller_for::<rpc::DeleteService>()?;
        ops::services::delete(&self.ctx, &caller, &id).await.map_err(fail)
    }

    async fn service_revisions(&self, id: String) -> Result<Vec<Revision>, ServerFnError> {
        caller_for::<rpc::ListServiceRevisions>()?;
        ops::services::revisions(&self.ctx, &id).await.map_err(fail)
    }

    async fn revision_diff(&self, id: String, from: u64, to: u64) -> Result<RevisionDiff, ServerFnError> {
        caller_for::<rpc::GetRevisionDiff>()?;
        ops::services::revision_diff(&self.ctx, &id, Some(from), Some(to))
            .await
            .map_err(fail)
    }

    async fn list_tasks(&self, filter: TaskFilter) -> Result<Vec<Task>, ServerFnError> {
        caller_for::<rpc::ListTasks>()?;
        ops::tasks::list(&self.ctx, &filter).await.map_err(fail)
    }

    async fn newest_rollout(&self, service: String) -> Result<Option<RolloutDetail>, ServerFnError> {
        caller_for::<rpc::GetNewestRollout>()?;
        ops::rollouts::newest_of_service(&self.ctx, &service)
            .await
            .map_err(fail)
    }

    async fn pause_rollout(&self, id: String) -> Result<Rollout, ServerFnError> {
        let caller = caller_for::<rpc::PauseRollout>()?;
        ops::rollouts::pause(&self.ctx, &caller, &id).await.map_err(fail)
    }

    async fn resume_rollout(&self, id: String) -> Result<Rollout, ServerFnError> {
        let caller = caller_for::<rpc::ResumeRollout>()?;
        ops::rollouts::resume(&self.ctx, &caller, &id).await.map_err(fail)
    }

    async fn abort_rollout(&self, id: String) -> Result<Rollout, ServerFnError> {
        let caller = caller_for::<rpc::AbortRollout>()?;
        ops::rollouts::abort(&self.ctx, &caller, &id).await.map_err(fail)
    }

    async fn rollback_service(&self, id: String, revision: Option<u64>) -> Result<Rollout, ServerFnError> {
        let caller = caller_for::<rpc::RollbackService>()?;
        ops::rollouts::rollback(&self.ctx, &caller, &id, revision)
            .await
            .map_err(fail)
    }

    async fn list_networks(&self) -> Result<Vec<Network>, ServerFnError> {
        caller_for::<rpc::ListNetworks>()?;
        ops::networks::list(&self.ctx).await.map_err(fail)
    }

    async fn create_network(&self, new: NewNetwork) -> Result<Network, ServerFnError> {
        let caller = caller_for::<rpc::CreateNetwork>()?;
        ops::networks::create(&self.ctx, &caller, new).await.map_err(fail)
    }

    async fn delete_network(&self, id: String) -> Result<(), ServerFnError> {
        let caller = caller_for::<rpc::DeleteNetwork>()?;
        ops::networks::delete(&self.ctx, &caller, &id).await.map_err(fail)
    }

    async fn list_webhooks(&self, service: String) -> Result<Vec<Webhook>, ServerFnError> {
        caller_for::<rpc::ListWebhooks>()?;
        ops::webhooks::list(&self.ctx, &service).await.map_err(fail)
    }

    async fn create_webhook(
        &self,
        service: String,
        new: NewWebhook,
    ) -> Result<CreatedWebhook, ServerFnError> {
        let caller = caller_for::<rpc::CreateWebhook>()?;
        ops::webhooks::create(&self.ctx, &caller, &service, new)
            .await
            .map_err(fail)
    }

    async fn update_webhook(&self, id: String, change: WebhookChange) -> Result<Webhook, ServerFnError> {
        let caller = caller_for::<rpc::UpdateWebhook>()?;
        ops::webhooks::update(&self.ctx, &caller, &id, change)
            .await
            .map_err(fail)
    }

    async fn rotate_webhook(&self, id: String) -> Result<CreatedWebhook, ServerFnError> {
        let caller = caller_for::<rpc::RotateWebhook>()?;
        ops::webhooks::rotate(&self.ctx, &caller, &id).await.map_err(fail)
    }

    async fn delete_webhook(&self, id: String) -> Result<(), ServerFnError> {
        let caller = caller_for::<rpc::DeleteWebhook>()?;
        ops::webhooks::delete(&self.ctx, &caller, &id).await.map_err(fail)
    }

    async fn webhook_deliveries(&self, id: String) -> Result<Vec<Delivery>, ServerFnError> {
        caller_for::<rpc::ListWebhookDeliveries>()?;
        ops::webhooks::deliveries(&self.ctx, &id).await.map_err(fail)
    }
    async fn service_ingress(&self, id: String) -> Result<ServiceIngress, ServerFnError> {
        caller_for::<rpc::GetServiceIngress>()?;
        ops::ingress::of_service(&self.ctx, &id).await.map_err(fail)
    }
}
