//! Service networks: create, list, read and delete them, and the check that
//! a spec joins only networks that exist. A network's services are the
//! live services whose spec lists it; a network in use cannot go, so no
//! service is left naming one that is gone. Both checks read, then write:
//! a spec deployed in the same instant as its network is deleted can still
//! name it. The table carries networks by name only, so such a service
//! still shares it with the others that list it; creating the network
//! again makes it whole.

use serde_json::json;
use shoal_proto::{
    FieldError,
    network::{Network, NewNetwork},
};

use super::audit;
use crate::{
    auth::{Caller, secret::new_id},
    changes::Changes,
    ctx::Ctx,
    error::AppError,
    store::{StoreError, now_millis},
    views,
};

pub async fn list(ctx: &Ctx) -> Result<Vec<Network>, AppError> {
    let networks = ctx.store.list_networks().await?;
    views::networks(ctx, networks).await
}

/// By id or by name, with its services.
pub async fn get(ctx: &Ctx, id_or_name: &str) -> Result<Network, AppError> {
    let network = find(ctx, id_or_name).await?;
    views::network(ctx, network).await
}

pub async fn create(ctx: &Ctx, caller: &Caller, new: NewNetwork) -> Result<Network, AppError> {
    new.check()?;
    let network = Network {
        id: new_id(),
        name: new.name,
        encrypted: new.encrypted,
        proxy_protocol: new.proxy_protocol,
        created_at: now_millis(),
        services: Vec::new(),
    };
    ctx.store
        .insert_network(&network)
        .await
        .map_err(|error| match error {
            StoreError::Conflict { .. } => AppError::Conflict(format!(
                "a network named {:?} exists already; services join it by listing it in `networks`",
                network.name
            )),
            other => other.into(),
        })?;
    audit::record(
        ctx,
        caller,
        "network.create",
        Some(&network.id),
        json!({
            "name": network.name,
            "encrypted": network.encrypted,
            "proxy_protocol": network.proxy_protocol,
        }),
    )
    .await;
    Changes::new().network_created(&network.id).tell(ctx).await;
    get(ctx, &network.id).await
}

/// Refused while a live service lists the network, naming those services.
pub async fn delete(ctx: &Ctx, caller: &Caller, id_or_name: &str) -> Result<(), AppError> {
    let network = get(ctx, id_or_name).await?;
    if !network.services.is_empty() {
        let names: Vec<String> = network.services.iter().map(|s| format!("{s:?}")).collect();
        return Err(AppError::Conflict(format!(
            "network {:?} is in use by {} {}: take it out of their `networks` first",
            network.name,
            if names.len() == 1 { "service" } else { "services" },
            names.join(", ")
        )));
    }
    if !ctx.store.delete_network(&network.id).await? {
        return Err(not_found(id_or_name));
    }
    audit::record(
        ctx,
        caller,
        "network.delete",
        Some(&network.id),
        json!({ "name": network.name }),
    )
    .await;
    Changes::new()
        .network_removed(&network.id, &network.name)
        .tell(ctx)
        .await;
    Ok(())
}

/// A spec's `networks` name networks that exist.
pub async fn check_exist(ctx: &Ctx, networks: &[String]) -> Result<(), AppError> {
    if networks.is_empty() {
        return Ok(());
    }
    let known = ctx.store.list_networks().await?;
    for (at, name) in networks.iter().enumerate() {
        if !known.iter().any(|n| &n.name == name) {
            return Err(FieldError::new(
                format!("networks[{at}]"),
                format!("no network {name:?}; create it first (POST /api/v1/networks or the Networks page)"),
            )
            .into());
        }
    }
    Ok(())
}

async fn find(ctx: &Ctx, id_or_name: &str) -> Result<Network, AppError> {
    ctx.store
        .find_network(id_or_name)
        .await?
        .ok_or_else(|| not_found(id_or_name))
}

fn not_found(id_or_name: &str) -> AppError {
    AppError::NotFound(format!("no network {id_or_name:?}"))
}
