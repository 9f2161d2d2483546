//! A new revision of a service, the one way edits and rollbacks alike
//! change what runs: the revision and (when tasks must be replaced) its
//! rollout are written in one transaction, audited, and told.

use serde_json::json;
use shoal_proto::{
    container::replaces_tasks,
    service::{Heading, Rollout, RolloutStart, ServiceSpec, diff},
};

use super::audit;
use crate::{
    auth::{ActorKind, Caller, secret::new_id},
    changes::Changes,
    ctx::Ctx,
    error::AppError,
    store::{ServiceRecord, StoreError, now_millis},
};

/// Why the service gets a new revision.
pub enum Cause<'a> {
    /// An edit or a scale, audited as `action`. Rolled out only if it
    /// changes what tasks run or where.
    Edit { action: &'a str },
    /// Back to the spec of revision `to`, always rolled out with the
    /// rollback config.
    Rollback { to: u64 },
}

/// Writes `spec` as the service's next revision; the rollout it started,
/// if any.
pub async fn new_revision(
    ctx: &Ctx,
    caller: &Caller,
    current: &ServiceRecord,
    spec: &ServiceSpec,
    cause: Cause<'_>,
) -> Result<Option<Rollout>, AppError> {
    let now = now_millis();
    let who = caller.name();
    let next = current.revision + 1;
    let heading = match cause {
        Cause::Edit { .. } => replaces_tasks(&current.spec, spec).then_some(Heading::Forward {
            trigger: trigger(caller),
        }),
        Cause::Rollback { to } => Some(Heading::Back { to }),
    };
    let id = new_id();
    let rollout = heading.map(|heading| {
        let start = RolloutStart {
            id: &id,
            service_id: &current.id,
            service_name: &current.name,
            from_revision: current.revision,
            actor: &who,
            now,
        };
        Rollout::begin(start, heading)
    });
    ctx.store
        .add_revision(
            &current.id,
            current.revision,
            spec,
            &who,
            now,
            rollout.as_ref().map(|(rollout, event)| (rollout, event.as_str())),
        )
        .await
        .map_err(|error| match error {
            StoreError::Stale => AppError::Conflict(format!(
                "{} changed while this change was made; reload it and try again",
                current.name
            )),
            other => other.into(),
        })?;
    let (action, detail) = match cause {
        Cause::Edit { action } => {
            let changed: Vec<String> = diff(&current.spec, spec).into_iter().map(|c| c.path).collect();
            (
                action,
                json!({ "name": current.name, "revision": next, "changed": changed }),
            )
        }
        Cause::Rollback { to } => (
            "service.rollback",
            json!({ "name": current.name, "to_revision": to, "revision": next, "rollout": rollout.as_ref().map(|(r, _)| &r.id) }),
        ),
    };
    audit::record(ctx, caller, action, Some(&current.id), detail).await;
    let mut changes = Changes::new().spec(&current.id);
    if let Some((rollout, _)) = &rollout {
        changes = changes.rollout(&rollout.id);
    }
    changes.tell(ctx).await;
    Ok(rollout.map(|(rollout, _)| rollout))
}

/// What a rollout records as its cause: a webhook delivery or a change by hand.
fn trigger(caller: &Caller) -> &'static str {
    match caller.actor.as_ref().map(|actor| actor.kind) {
        Some(ActorKind::Webhook) => "webhook",
        _ => "update",
    }
}
