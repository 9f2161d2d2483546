//! The worker and manager join tokens: `SHOAL-1-<CA digest>-<secret>`.
//!
//! Admins must be able to view a token again, yet the store keeps only a
//! digest of each secret: the secret is derived from the CA key (which only
//! the server holds) and a per-role nonce in the store. Rotating replaces the
//! nonce, so the old secret stops admitting new nodes; nodes already joined
//! hold certificates and never use a token again.

use serde_json::json;
use shoal_proto::{
    join_token::JoinToken as TokenText,
    node::{JoinToken, JoinTokens, NodeRole},
};

use super::audit;
use crate::ctx::Ctx;
use crate::{
    auth::{Caller, secret},
    error::AppError,
    store::{JoinTokenRow, StoreError},
};

/// Gives each role a token on the first start.
pub async fn ensure(ctx: &Ctx) -> Result<(), StoreError> {
    for role in NodeRole::ALL.iter().copied() {
        let nonce = secret::new_id();
        let hash = secret::digest(&derive(ctx, role, &nonce));
        ctx.store.create_join_token(role, &nonce, &hash).await?;
    }
    Ok(())
}

pub async fn view(ctx: &Ctx) -> Result<JoinTokens, AppError> {
    let rows = ctx.store.join_tokens().await?;
    let token = |role| {
        rows.iter()
            .find(|row| row.role == role)
            .map(|row| shown(ctx, row))
            .ok_or_else(|| AppError::Internal(format!("no {role} join token in the store")))
    };
    Ok(JoinTokens {
        worker: token(NodeRole::Worker)?,
        manager: token(NodeRole::Manager)?,
        server_address: ctx.agent_address.to_string(),
    })
}

/// `role` is the path segment of `POST /api/v1/join-tokens/{id}/rotate`.
pub async fn rotate(ctx: &Ctx, caller: &Caller, role: &str) -> Result<JoinToken, AppError> {
    let role: NodeRole = role.parse().map_err(|_| {
        AppError::NotFound(format!(
            "there is no {role:?} join token: rotate \"worker\" or \"manager\""
        ))
    })?;
    let nonce = secret::new_id();
    let hash = secret::digest(&derive(ctx, role, &nonce));
    ctx.store.rotate_join_token(role, &nonce, &hash).await?;
    audit::record(
        ctx,
        caller,
        "join_token.rotate",
        Some(role.as_str()),
        json!({ "role": role }),
    )
    .await;
    view(ctx).await.map(|tokens| match role {
        NodeRole::Worker => tokens.worker,
        NodeRole::Manager => tokens.manager,
    })
}

/// The role a join secret admits, if any. Both stored digests are compared
/// (in constant time) whatever the first comparison gives.
pub async fn admit(ctx: &Ctx, presented: &str) -> Result<NodeRole, AppError> {
    let rows = ctx.store.join_tokens().await?;
    let matching: Vec<NodeRole> = rows
        .iter()
        .filter(|row| secret::matches(presented, &row.secret_hash))
        .map(|row| row.role)
        .collect();
    matching.first().copied().ok_or_else(|| {
        AppError::BadCredentials(
            "the join token was refused: it is wrong, or it was rotated. \
             Ask an admin for the current token (console: Nodes, Join tokens)"
                .into(),
        )
    })
}

fn derive(ctx: &Ctx, role: NodeRole, nonce: &str) -> String {
    ctx.ca.derive_secret(&format!("join-token/{role}/{nonce}"))
}

fn shown(ctx: &Ctx, row: &JoinTokenRow) -> JoinToken {
    let token = TokenText {
        ca_digest: ctx.ca.digest().to_owned(),
        secret: derive(ctx, row.role, &row.nonce),
    }
    .to_string();
    JoinToken {
        role: row.role,
        command: join_command(&token, &ctx.agent_address),
        token,
        rotated_at: row.rotated_at,
    }
}

fn join_command(token: &str, server_address: &str) -> String {
    format!("shoal-agent join --token {token} {server_address}")
}
