//! Nodes: joining, what users see and change, and removal. The stored node
//! gets its live status from `presence`; every change by a user is audited,
//! and every change is published on the event bus.

use std::net::IpAddr;

use serde_json::json;
use shoal_proto::{
    FieldError,
    auth::Role,
    node::{Node, NodeChange, NodeStatus, RemoveNode, RoleChange, check_labels},
    wire::{Inventory, JoinRequest, NodeIdentity, Refusal, RefusalCode, address_ip},
};

use super::{audit, join_tokens};
use crate::{
    auth::{Access, Caller, authorize, secret},
    changes::Changes,
    ctx::Ctx,
    error::AppError,
    store::{NewAuditEntry, NewNodeRow, NodeRecord},
    views,
};

pub async fn list(ctx: &Ctx) -> Result<Vec<Node>, AppError> {
    views::nodes(ctx).await
}

pub async fn get(ctx: &Ctx, id: &str) -> Result<Node, AppError> {
    find(ctx, id).await.map(|record| views::node(ctx, record.node))
}

/// Availability and labels: an operator's business; the address an admin's.
pub async fn update(ctx: &Ctx, caller: &Caller, id: &str, change: NodeChange) -> Result<Node, AppError> {
    let before = find(ctx, id).await?.node;
    let availability = change.availability.unwrap_or(before.availability);
    let labels = match &change.labels {
        Some(patch) => patch.apply(&before.labels)?,
        None => before.labels.clone(),
    };
    let address = match &change.address {
        Some(raw) => {
            authorize(caller, Access::Min(Role::Admin))?;
            mesh_address(raw)?
        }
        None => before.address.clone(),
    };
    let mut changed = serde_json::Map::new();
    if availability != before.availability {
        changed.insert(
            "availability".into(),
            json!({ "from": before.availability, "to": availability }),
        );
    }
    if labels != before.labels {
        changed.insert("labels".into(), json!({ "from": before.labels, "to": labels }));
    }
    if address != before.address {
        changed.insert("address".into(), json!({ "from": before.address, "to": address }));
    }
    if changed.is_empty() {
        return Ok(views::node(ctx, before));
    }
    ctx.store
        .set_node_spec(id, availability, &labels, &address)
        .await?;
    changed.insert("hostname".into(), json!(before.hostname));
    audit::record(ctx, caller, "node.update", Some(id), changed.into()).await;
    Changes::new().node_updated(id).tell(ctx).await;
    get(ctx, id).await
}

/// An address an admin gives a node: an IP literal, since the mesh connects
/// there and does not resolve names.
fn mesh_address(raw: &str) -> Result<String, FieldError> {
    address_ip(raw.trim()).map(|ip| ip.to_canonical().to_string()).ok_or_else(|| {
        FieldError::new(
            "address",
            format!("{raw:?} is not an IP address: give the one other nodes reach this node at, e.g. 10.0.0.5 or fd00::5"),
        )
    })
}

/// Promotion and demotion: an admin's business.
pub async fn set_role(ctx: &Ctx, caller: &Caller, id: &str, change: RoleChange) -> Result<Node, AppError> {
    let before = find(ctx, id).await?.node;
    if change.role == before.role {
        return Ok(views::node(ctx, before));
    }
    ctx.store.set_node_role(id, change.role).await?;
    audit::record(
        ctx,
        caller,
        "node.role",
        Some(id),
        json!({ "hostname": before.hostname, "from": before.role, "to": change.role }),
    )
    .await;
    Changes::new().node_updated(id).tell(ctx).await;
    get(ctx, id).await
}

/// Removes a node: freely when it is not ready, with `force` when it is. Its
/// certificate stops working at once: a live connection is closed with the
/// reason, and reconnects are refused.
pub async fn remove(ctx: &Ctx, caller: &Caller, id: &str, options: RemoveNode) -> Result<(), AppError> {
    let record = find(ctx, id).await?;
    let node = views::node(ctx, record.node.clone());
    if node.status == NodeStatus::Ready && !options.force {
        return Err(AppError::Conflict(format!(
            "node {} ({id}) is ready: drain it and stop its agent first, or remove it anyway with force \
             (DELETE /api/v1/nodes/{id}?force=true)",
            node.hostname
        )));
    }
    ctx.store.remove_node(&record).await?;
    if let Some(kick) = ctx.presence.remove(id) {
        // The connection may have ended on its own meanwhile.
        let _ = kick.send(removed(id, &node.hostname));
    }
    audit::record(
        ctx,
        caller,
        "node.remove",
        Some(id),
        json!({ "hostname": node.hostname, "role": node.role, "status": node.status, "force": options.force }),
    )
    .await;
    Changes::new().node_removed(node).tell(ctx).await;
    Ok(())
}

/// What a removed node's agent is told, on its live connection or when it
/// tries to reconnect.
pub fn removed(id: &str, hostname: &str) -> Refusal {
    Refusal {
        code: RefusalCode::NodeRemoved,
        message: format!(
            "node {id} ({hostname}) was removed from the cluster by an admin, and its identity no longer \
             works. To join again, delete the agent's data directory and run `shoal-agent join` with a \
             current join token"
        ),
    }
}

/// Admits a new node presenting a join secret: signs its certificate
/// request and stores it with the role its token grants.
pub async fn join(ctx: &Ctx, request: JoinRequest, peer: IpAddr) -> Result<NodeIdentity, AppError> {
    let role = join_tokens::admit(ctx, &request.secret).await?;
    request.inventory.check()?;
    check_labels(&request.labels)?;
    // Constraints name nodes by hostname: a newcomer must not take over a
    // name, and with it the services pinned there.
    if let Some(taken) = ctx.store.node_by_hostname(&request.inventory.hostname).await? {
        return Err(AppError::Conflict(format!(
            "a node named {} already exists (id {}): remove it first (Nodes page, or DELETE /api/v1/nodes/{}), \
             or join under another name with --hostname",
            taken.node.hostname, taken.node.id, taken.node.id
        )));
    }
    let id = secret::new_id();
    let signed = ctx.ca.sign_node(&id, &request.csr_pem).map_err(|error| {
        AppError::BadRequest(format!("the certificate signing request is unusable: {error}"))
    })?;
    let address = request.inventory.address(peer);
    let record = ctx
        .store
        .insert_node(NewNodeRow {
            id: &id,
            role,
            engine_labels: &request.labels,
            cert_fingerprint: &signed.fingerprint,
            address: &address,
            inventory: &request.inventory,
        })
        .await?;
    ctx.presence.add(&id);
    // A node is not a `Caller`: no user stands behind it, only the token.
    let detail = json!({
        "hostname": record.node.hostname,
        "role": role,
        "engine_labels": record.node.engine_labels,
        "address": address,
    });
    let entry = NewAuditEntry {
        actor_kind: "node",
        actor_id: Some(&id),
        actor_name: Some(&record.node.hostname),
        source: Some(&peer.to_canonical().to_string()),
        action: "node.join",
        target: Some(&id),
        detail: &detail,
    };
    if let Err(error) = ctx.store.append_audit(entry).await {
        tracing::error!(%error, action = "node.join", "could not write the audit log");
    }
    tracing::info!(node = %id, hostname = %record.node.hostname, %role, "node joined");
    Changes::new().node_joined(&id).tell(ctx).await;
    Ok(NodeIdentity {
        node_id: id,
        certificate_pem: signed.pem,
    })
}

/// Applies the inventory a node reports when it connects. Its hostname and
/// address stay as they were at join: constraints and the mesh rely on
/// them, and a node must not move either by saying so.
pub async fn record_inventory(
    ctx: &Ctx,
    id: &str,
    inventory: &Inventory,
    peer: IpAddr,
) -> Result<(), AppError> {
    inventory.check()?;
    let before = find(ctx, id).await?.node;
    let address = inventory.address(peer);
    if before.hostname != inventory.hostname || before.address != address {
        tracing::warn!(
            node = id,
            hostname = %before.hostname,
            address = %before.address,
            reported_hostname = %inventory.hostname,
            reported_address = %address,
            "a node reports another name or address than it joined with; it keeps its own. To move it, \
             an admin sets its address (PATCH /api/v1/nodes/{{id}} with \"address\"), or the node joins again"
        );
    }
    let unchanged = before.platform.os == inventory.os
        && before.platform.arch == inventory.arch
        && before.resources.cpus == inventory.cpus
        && before.resources.memory_bytes == inventory.memory_bytes
        && before.engine_version == inventory.engine_version
        && before.agent_version == inventory.agent_version;
    if unchanged {
        return Ok(());
    }
    ctx.store.set_node_inventory(id, inventory).await?;
    Changes::new().node_updated(id).tell(ctx).await;
    Ok(())
}

async fn find(ctx: &Ctx, id: &str) -> Result<NodeRecord, AppError> {
    ctx.store
        .node_by_id(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no node with id {id}; GET /api/v1/nodes lists them")))
}
