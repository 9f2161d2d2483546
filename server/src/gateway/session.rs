//! A joined node's session: identified by its client certificate, welcomed
//! with the heartbeat settings, then kept while heartbeats arrive. Liveness
//! is timer-driven: one deadline per connection, pushed back by every
//! message, and nothing polls.

use std::{collections::HashMap, net::SocketAddr};

use shoal_proto::{
    framing::ServerFrames,
    wire::{AgentMessage, Assignment, Refusal, RefusalCode, ServerMessage, Welcome},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    time::{Instant, sleep_until},
};

use super::{admission::Slot, finish, invalid, refusal};
use crate::{
    changes::Changes,
    ctx::Ctx,
    dispatcher,
    error::chain,
    ops,
    presence::Ticket,
    store::{NodeRecord, StoreError, now_millis},
};

/// How a session ended.
enum Ending {
    /// Silent past the tolerance while the connection stayed open.
    Missed,
    /// The connection broke or the agent closed it.
    Lost(String),
    /// An admin removed the node: tell the agent why.
    Removed(Refusal),
    /// A newer connection of the same node took over.
    Replaced,
    /// The agent sent something unacceptable.
    Refused(Refusal),
}

pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: Ctx,
    mut frames: ServerFrames<S>,
    fingerprint: Option<String>,
    peer: SocketAddr,
    slot: Slot,
) {
    let node = match identify(&ctx, fingerprint.as_deref()).await {
        Ok(record) => record.node,
        Err(refused) => return finish(frames, Err(refused)).await,
    };
    // A known node: no longer one of the connections still opening, and
    // sent full-size frames from now on.
    drop(slot);
    frames.identified();
    let id = node.id.as_str();
    let connected_at = now_millis();
    let (ticket, became_ready) = ctx.presence.open(id, connected_at);
    let session = ticket.session;
    let welcome = ServerMessage::Welcome(Welcome {
        node_id: node.id.clone(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        heartbeat_interval_ms: u64::try_from(ctx.heartbeat.interval.as_millis()).unwrap_or(u64::MAX),
        heartbeat_misses: ctx.heartbeat.misses,
    });
    tracing::info!(node = id, hostname = %node.hostname, %peer, "node connected");
    if let Err(error) = ctx.store.set_node_heartbeat(id, connected_at).await {
        tracing::error!(%error, node = id, "cannot record a node's connection");
    }
    if became_ready {
        Changes::new().node_status(id).tell(&ctx).await;
    }
    let (ending, last_seen) = match frames.send(&welcome).await {
        Ok(()) => converse(&ctx, &mut frames, id, ticket, peer).await,
        Err(error) => (Ending::Lost(error.to_string()), Instant::now()),
    };
    // Running tasks on a node that went away is the orchestrator's business
    // now (it moves them after the grace); and it no longer holds up drains.
    let mut changes = Changes::new().wake_all();
    if !matches!(ending, Ending::Replaced) {
        for node in ctx.ingress.forget(id) {
            changes = changes.nudge(&node);
        }
    }
    changes.tell(&ctx).await;
    match ending {
        Ending::Missed => {
            tracing::warn!(
                node = id,
                hostname = %node.hostname,
                misses = ctx.heartbeat.misses,
                "node missed its heartbeats; it is down"
            );
            drop(frames);
            mark_down(&ctx, id, session).await;
        }
        Ending::Lost(reason) => {
            tracing::info!(node = id, hostname = %node.hostname, %reason, "node connection lost");
            drop(frames);
            // A node that reconnects in time stays ready, without a flap.
            sleep_until(ctx.heartbeat.deadline(last_seen)).await;
            mark_down(&ctx, id, session).await;
        }
        Ending::Refused(refused) => {
            tracing::warn!(node = id, reason = %refused.message, "refused a node's message");
            finish(frames, Err(refused)).await;
            sleep_until(ctx.heartbeat.deadline(last_seen)).await;
            mark_down(&ctx, id, session).await;
        }
        Ending::Removed(refused) => {
            tracing::info!(node = id, hostname = %node.hostname, "closing a removed node's connection");
            finish(frames, Err(refused)).await;
        }
        Ending::Replaced => {
            tracing::debug!(node = id, "a newer connection took over");
        }
    }
}

/// Exchanges messages until the session ends; returns how, and when the
/// node was last heard from.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx,
    frames: &mut ServerFrames<S>,
    id: &str,
    ticket: Ticket,
    peer: SocketAddr,
) -> (Ending, Instant) {
    let Ticket { session, mut kicked } = ticket;
    let mut last_seen = Instant::now();
    // Subscribed before the first read, so no change slips in between.
    let mut nudges = ctx.dispatcher.subscribe(id);
    let mut tables = ctx.ingress.subscribe();
    let mut sent = match send_full_set(ctx, frames, id).await {
        Ok(sent) => sent,
        Err(ending) => return (ending, last_seen),
    };
    // The mesh's table follows the assignments, so a task the table names is
    // one the node already knows about.
    tables.mark_changed();
    loop {
        let message = tokio::select! {
            frame = frames.recv() => frame,
            changed = tables.changed() => {
                if changed.is_ok() {
                    let table = tables.borrow_and_update().as_ref().clone();
                    if let Err(error) = frames.send(&ServerMessage::Ingress(table)).await {
                        return (Ending::Lost(error.to_string()), last_seen);
                    }
                }
                continue;
            }
            changed = nudges.changed() => {
                if changed.is_ok()
                    && let Err(ending) = send_changes(ctx, frames, id, &mut sent).await
                {
                    return (ending, last_seen);
                }
                continue;
            }
            () = sleep_until(ctx.heartbeat.deadline(last_seen)) => {
                if ctx.heartbeat.is_down(last_seen, Instant::now()) {
                    return (Ending::Missed, last_seen);
                }
                continue;
            }
            kick = &mut kicked => {
                let ending = match kick {
                    Ok(refused) => Ending::Removed(refused),
                    Err(_) => Ending::Replaced,
                };
                return (ending, last_seen);
            }
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(error)) => return (Ending::Lost(error.to_string()), last_seen),
            None => return (Ending::Lost("the agent closed the connection".into()), last_seen),
        };
        // Any message is a sign of life.
        last_seen = Instant::now();
        ctx.presence.beat(id, session, now_millis());
        match message {
            AgentMessage::Heartbeat => {
                if let Err(error) = frames.send(&ServerMessage::Heartbeat).await {
                    return (Ending::Lost(error.to_string()), last_seen);
                }
            }
            AgentMessage::Inventory(inventory) => {
                if let Err(error) = ops::nodes::record_inventory(ctx, id, &inventory, peer.ip()).await {
                    return (Ending::Refused(refusal(error)), last_seen);
                }
            }
            AgentMessage::TaskStatus(report) => {
                if let Err(error) = ops::tasks::report(ctx, id, &report).await {
                    tracing::error!(%error, node = id, task = %report.task_id, "cannot record a task report");
                }
            }
            AgentMessage::IngressStatus(status) => {
                let released = ctx.ingress.report(id, status);
                released
                    .iter()
                    .fold(Changes::new(), |changes, node| changes.nudge(node))
                    .tell(ctx)
                    .await;
            }
            AgentMessage::FetchCa { .. } | AgentMessage::Join(_) | AgentMessage::Hello { .. } => {
                let refused = invalid(
                    "a session takes heartbeats, inventory, task reports and ingress status only".into(),
                );
                return (Ending::Refused(refused), last_seen);
            }
        }
    }
}

/// What the node was last sent, by task id.
type Sent = HashMap<String, Assignment>;

/// The node's whole assignment set, right after the welcome.
async fn send_full_set<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx,
    frames: &mut ServerFrames<S>,
    id: &str,
) -> Result<Sent, Ending> {
    let tasks = load_assignments(ctx, id).await?;
    frames
        .send(&ServerMessage::Assignments { tasks: tasks.clone() })
        .await
        .map_err(|error| Ending::Lost(error.to_string()))?;
    Ok(tasks.into_iter().map(|a| (a.task_id.clone(), a)).collect())
}

/// What changed in the node's set since it was last sent, if anything.
async fn send_changes<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx,
    frames: &mut ServerFrames<S>,
    id: &str,
    sent: &mut Sent,
) -> Result<(), Ending> {
    let current = load_assignments(ctx, id).await?;
    let (upsert, remove) = dispatcher::changes(sent, &current);
    if upsert.is_empty() && remove.is_empty() {
        return Ok(());
    }
    frames
        .send(&ServerMessage::AssignmentChanges { upsert, remove })
        .await
        .map_err(|error| Ending::Lost(error.to_string()))?;
    *sent = current.into_iter().map(|a| (a.task_id.clone(), a)).collect();
    Ok(())
}

async fn load_assignments(ctx: &Ctx, id: &str) -> Result<Vec<Assignment>, Ending> {
    super::assignments::of_node(ctx, id).await.map_err(|error| {
        tracing::error!(%error, node = id, "cannot read a node's assignments");
        Ending::Lost(format!("the server cannot read the node's assignments: {error}"))
    })
}

/// The node a client certificate belongs to, or why it is refused.
async fn identify(ctx: &Ctx, fingerprint: Option<&str>) -> Result<NodeRecord, Refusal> {
    let Some(fingerprint) = fingerprint else {
        return Err(invalid(
            "a session needs the node's client certificate: run `shoal-agent run` with the data \
             directory the node joined with"
                .into(),
        ));
    };
    let unavailable = |error: StoreError| {
        tracing::error!(error = %chain(&error), "cannot look up a node's certificate");
        Refusal {
            code: RefusalCode::Unavailable,
            message: "the server cannot check this node right now; the agent retries".into(),
        }
    };
    if let Some(record) = ctx
        .store
        .node_by_fingerprint(fingerprint)
        .await
        .map_err(unavailable)?
    {
        return Ok(record);
    }
    match ctx.store.removed_node(fingerprint).await.map_err(unavailable)? {
        Some(removed) => Err(ops::nodes::removed(&removed.node_id, &removed.hostname)),
        None => Err(Refusal {
            code: RefusalCode::UnknownNode,
            message: "this node's certificate is from the cluster CA but names no node of the cluster \
                      (was the server's database replaced?). Join again: delete the agent's data \
                      directory and run `shoal-agent join` with a current join token"
                .into(),
        }),
    }
}

/// Marks the node down if this session still speaks for it, and says so.
async fn mark_down(ctx: &Ctx, id: &str, session: u64) {
    if !ctx.presence.expire(id, session) {
        return;
    }
    if let (_, Some(at)) = ctx.presence.status(id)
        && let Err(error) = ctx.store.set_node_heartbeat(id, at).await
    {
        tracing::error!(%error, node = id, "cannot record a node's last heartbeat");
    }
    Changes::new().node_status(id).tell(ctx).await;
}
