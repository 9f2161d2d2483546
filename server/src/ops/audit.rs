use serde_json::Value;
use shoal_proto::auth::{AuditPage, AuditQuery};

use crate::ctx::Ctx;
use crate::{auth::Caller, error::AppError, store::NewAuditEntry};

/// Appends to the audit log. The action has already happened when this runs,
/// so a failure to record it is logged loudly rather than undoing it.
pub async fn record(ctx: &Ctx, caller: &Caller, action: &str, target: Option<&str>, detail: Value) {
    let (actor_kind, actor_id, actor_name) = caller.audit_actor();
    let source = caller.audit_source();
    let entry = NewAuditEntry {
        actor_kind,
        actor_id: actor_id.as_deref(),
        actor_name: actor_name.as_deref(),
        source: source.as_deref(),
        action,
        target,
        detail: &detail,
    };
    if let Err(error) = ctx.store.append_audit(entry).await {
        tracing::error!(%error, action, "could not write the audit log");
    }
}

pub async fn page(ctx: &Ctx, query: AuditQuery) -> Result<AuditPage, AppError> {
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since > until
    {
        return Err(AppError::BadRequest("`since` is after `until`".into()));
    }
    Ok(ctx.store.audit_page(&query).await?)
}
