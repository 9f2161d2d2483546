//! The console's server functions over HTTP. Like the REST routes, each one
//! has an entry in [`ACCESS`]; one missing from the table is refused.

use axum::{
    body::{Body, to_bytes},
    http::{
        Request, StatusCode,
        header::{self, HeaderValue},
    },
    middleware::Next,
    response::{IntoResponse, Response},
};
use leptos::server_fn::{
    ServerFn,
    error::{FromServerFnError, ServerFnError},
};
use shoal_app::rpc::*;
use shoal_proto::auth::Role;

use crate::{
    auth::{Access, Caller, authorize},
    error::AppError,
};

const PREFIX: &str = "/rpc/";

/// The most a server function's arguments may take, as the REST API's JSON
/// bodies: a service spec with its environment fits many times over.
pub const BODY_LIMIT: usize = 64 * 1024;
const VIEWER: Access = Access::Min(Role::Viewer);
const OPERATOR: Access = Access::Min(Role::Operator);
const ADMIN: Access = Access::Min(Role::Admin);

/// Who may call each server function, by its URL path.
pub const ACCESS: &[(&str, Access)] = &[
    (GetServerStatus::PATH, VIEWER),
    (GetDashboard::PATH, VIEWER),
    (Login::PATH, Access::Public),
    (Logout::PATH, Access::Public),
    (CheckSetupToken::PATH, Access::Public),
    (SetupAdmin::PATH, Access::Public),
    (ListUsers::PATH, ADMIN),
    (CreateUser::PATH, ADMIN),
    (UpdateUser::PATH, ADMIN),
    (DeleteUser::PATH, ADMIN),
    (ListTokens::PATH, VIEWER),
    (CreateToken::PATH, VIEWER),
    (RevokeToken::PATH, VIEWER),
    (GetAudit::PATH, ADMIN),
    (ListNodes::PATH, VIEWER),
    (UpdateNode::PATH, OPERATOR),
    (SetNodeRole::PATH, ADMIN),
    (RemoveNode::PATH, ADMIN),
    (GetJoinTokens::PATH, ADMIN),
    (RotateJoinToken::PATH, ADMIN),
    (ListServices::PATH, VIEWER),
    (GetService::PATH, VIEWER),
    (CreateService::PATH, OPERATOR),
    (UpdateService::PATH, OPERATOR),
    (ScaleService::PATH, OPERATOR),
    (DeleteService::PATH, OPERATOR),
    (ListServiceRevisions::PATH, VIEWER),
    (GetRevisionDiff::PATH, VIEWER),
    (ListTasks::PATH, VIEWER),
    (GetNewestRollout::PATH, VIEWER),
    (PauseRollout::PATH, OPERATOR),
    (ResumeRollout::PATH, OPERATOR),
    (AbortRollout::PATH, OPERATOR),
    (RollbackService::PATH, OPERATOR),
    (GetServiceIngress::PATH, VIEWER),
    (ListNetworks::PATH, VIEWER),
    (CreateNetwork::PATH, OPERATOR),
    (DeleteNetwork::PATH, OPERATOR),
    (ListWebhooks::PATH, OPERATOR),
    (CreateWebhook::PATH, OPERATOR),
    (UpdateWebhook::PATH, OPERATOR),
    (RotateWebhook::PATH, OPERATOR),
    (DeleteWebhook::PATH, OPERATOR),
    (ListWebhookDeliveries::PATH, OPERATOR),
];

pub fn access_of(path: &str) -> Option<Access> {
    ACCESS
        .iter()
        .find(|(known, _)| *known == path)
        .map(|(_, access)| *access)
}

/// The role check for a server function, whether it arrives over HTTP or is
/// called directly while the server renders a page.
pub fn authorize_call(path: &str, caller: &Caller) -> Result<(), AppError> {
    let access = access_of(path)
        .ok_or_else(|| AppError::Forbidden(format!("the server function {path} has no access rule")))?;
    authorize(caller, access)
}

/// Applies the access table to every request under `/rpc/`, before the
/// server function (which leptos_axum routes by its exact path) decodes its
/// arguments. A path outside the table is refused even when a server
/// function is registered there. The body is then read up to
/// [`BODY_LIMIT`], so a bigger one is refused with 413 before the server
/// function sees it (a declared length over the limit without reading it).
/// Arguments the server function cannot decode are answered with 400.
pub async fn guard(request: Request<Body>, next: Next) -> Response {
    let path = request.uri().path();
    if !path.starts_with(PREFIX) {
        return next.run(request).await;
    }
    let path = path.to_owned();
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(Caller::system);
    match authorize_call(&path, &caller) {
        Ok(()) => match within_limit(request).await {
            Ok(request) => bad_arguments_are_400(&path, next.run(request).await).await,
            Err(error) => server_fn_error(&path, &error),
        },
        Err(_) if access_of(&path).is_none() => {
            AppError::NotFound(format!("no server function at {path}")).into_response()
        }
        Err(error) => server_fn_error(&path, &error),
    }
}

async fn within_limit(request: Request<Body>) -> Result<Request<Body>, AppError> {
    let too_large = || {
        AppError::TooLarge(format!(
            "the request body is larger than {} KiB, the most a server function accepts",
            BODY_LIMIT / 1024
        ))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| too_large())?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// server_fn answers arguments it cannot decode (a field missing or of the
/// wrong type, a body that is not UTF-8 or not JSON) with a 500, as if the
/// server had failed. The mistake is the caller's: 400. Such answers are the
/// only ones whose body is an `Args` or `Deserialization` error; the server
/// functions' own failures are `ServerError`s with the status they chose.
async fn bad_arguments_are_400(path: &str, response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // An error's body is already in memory, so reading it cannot fail.
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return server_fn_error(
            path,
            &AppError::Internal("cannot read a server function's error".into()),
        );
    };
    if bytes.starts_with(b"Args|") || bytes.starts_with(b"Deserialization|") {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// An error in the encoding the console's server-function client decodes,
/// with the status the error deserves.
pub fn server_fn_error(path: &str, error: &AppError) -> Response {
    let encoded: ServerFnError = ServerFnError::ServerError(error.public_message());
    let body = encoded.ser();
    let mut response = (error.status(), body).into_response();
    if let Ok(value) = HeaderValue::from_str(path) {
        response
            .headers_mut()
            .insert(leptos::server_fn::error::SERVER_FN_ERROR_HEADER, value);
    }
    response
}
