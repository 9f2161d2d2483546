//! The node's session with the server, kept for as long as the agent runs:
//! `hello` with the node's certificate, the inventory, then a heartbeat at
//! the interval the server asks for. Assignments from the server go to the
//! task reconciler, and its task reports go back to the server. Ingress
//! tables go to the routing mesh, whose status goes back after each table
//! and every few seconds while its counters move; their networked services
//! go to the service networks, which serve this node's containers. A lost
//! connection is retried with backoff; a refusal for good (the node was
//! removed) ends the agent with the server's reason.

use std::{convert::Infallible, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use rustls::ClientConfig;
use shoal_proto::wire::{
    AgentMessage, IngressStatus, IngressTable, PROTOCOL_VERSION, Refusal, ServerMessage, TaskReport,
};
use tokio::{
    net::TcpListener,
    sync::mpsc::UnboundedReceiver,
    time::{Instant, MissedTickBehavior, sleep, sleep_until},
};

use crate::{
    backoff::RECONNECT,
    connection::{ServerAddr, answer, dial, send, unexpected},
    docker::{DockerRuntime, Node, watch_networked},
    engine::Engine,
    error::Error,
    identity::Identity,
    ingress::{Ingress, Limits, open_files_limit, serve_metrics},
    inventory::inventory,
    network::{Networks, host_upstreams},
    tasks::Reconciler,
    tls,
};

/// A server asking for faster heartbeats than this is mistaken; the agent
/// does not flood it.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How often the ingress counters are reported while they change: often
/// enough for a console to look live, rare enough to cost nothing.
const INGRESS_STATUS_INTERVAL: Duration = Duration::from_secs(2);

/// Where the server's tables go: the routing mesh takes the published
/// ports, the service networks the networked services. Both outlive
/// connections.
struct Routing {
    ingress: Ingress,
    networks: Networks,
}

impl Routing {
    fn apply(&self, table: IngressTable) -> IngressStatus {
        self.networks.apply(&table.services);
        self.ingress.apply(table)
    }
}

/// Why one connection ended.
struct Failure {
    error: Error,
    /// The server had welcomed the node: the next wait starts short again.
    welcomed: bool,
    /// Retrying cannot help.
    permanent: bool,
}

impl Failure {
    fn retry(error: Error, welcomed: bool) -> Self {
        Self {
            error,
            welcomed,
            permanent: false,
        }
    }

    fn refused(server: &ServerAddr, refusal: Refusal, welcomed: bool) -> Self {
        Self {
            permanent: refusal.code.is_permanent(),
            error: Error::Refused {
                server: server.to_string(),
                message: refusal.message,
            },
            welcomed,
        }
    }
}

/// Stays connected until the server refuses the node for good. With
/// `metrics_listen`, also serves the ingress counters to Prometheus there;
/// `mesh` bounds the routing mesh's connections.
pub async fn keep(
    engine: &Engine,
    identity: &Identity,
    data_dir: &Path,
    metrics_listen: Option<SocketAddr>,
    mesh: Limits,
) -> Result<Infallible, Error> {
    let config = tls::node(identity.credentials(data_dir)?).map_err(|e| Error::Identity {
        dir: data_dir.to_owned(),
        reason: e.to_string(),
    })?;
    let server: ServerAddr = identity.meta.server.parse().map_err(|reason| Error::Identity {
        dir: data_dir.to_owned(),
        reason: format!("node.json: server: {reason}"),
    })?;
    let node = Node {
        id: identity.meta.node_id.clone(),
        host_ip: identity.meta.host_ip(),
    };
    // One reconciler for all connections: the node's containers keep running
    // while the server is away.
    let (tasks, mut reports) = Reconciler::spawn(DockerRuntime::new(engine, node));
    // Likewise one mesh: published ports keep forwarding while the agent
    // reconnects, until the next table says otherwise.
    log_mesh_limits(&mesh);
    let ingress = Ingress::new(identity.meta.host_ip(), mesh);
    // And one set of service networks, sharing the mesh's caps: containers
    // keep resolving and reaching each other while the server is away.
    let networks = Networks::new(&ingress, host_upstreams());
    tokio::spawn(watch_networked(engine, &identity.meta.node_id, networks.clone()));
    let routing = Routing { ingress, networks };
    if let Some(addr) = metrics_listen {
        // Asked for explicitly, so a port that cannot be had stops the agent
        // at once rather than leaving a scraper without answers.
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::MetricsListen { addr, source })?;
        tracing::info!(%addr, "serving ingress metrics at /metrics");
        tokio::spawn(serve_metrics(listener, routing.ingress.clone()));
    }
    let mut attempt = 0;
    loop {
        let failure = session(
            engine,
            identity,
            &server,
            Arc::clone(&config),
            &tasks,
            &mut reports,
            &routing,
        )
        .await;
        if failure.permanent {
            return Err(failure.error);
        }
        if failure.welcomed {
            attempt = 0;
        }
        let delay = RECONNECT.delay(attempt, rand::random());
        attempt = attempt.saturating_add(1);
        tracing::warn!("{}; reconnecting in {:.1} s", failure.error, delay.as_secs_f64());
        sleep(delay).await;
    }
}

/// One connection, from dialling to its end.
async fn session(
    engine: &Engine,
    identity: &Identity,
    server: &ServerAddr,
    config: Arc<ClientConfig>,
    tasks: &Reconciler,
    reports: &mut UnboundedReceiver<TaskReport>,
    routing: &Routing,
) -> Failure {
    let ingress = &routing.ingress;
    // Facts first: an engine that does not answer is reported without
    // connecting and disconnecting.
    let info = match engine.info().await {
        Ok(info) => info,
        Err(error) => return Failure::retry(error, false),
    };
    // What queued up while disconnected is stale: the whole set of
    // assignments the server sends after `welcome` has every task reported
    // as it is now.
    while reports.try_recv().is_ok() {}
    let mut connection = match dial(server, config).await {
        Ok(connection) => connection,
        Err(error) => return Failure::retry(error, false),
    };
    let hello = AgentMessage::Hello {
        protocol: PROTOCOL_VERSION,
    };
    if let Err(error) = send(&mut connection, server, &hello).await {
        return Failure::retry(error, false);
    }
    let welcome = match answer(&mut connection, server).await {
        Ok(ServerMessage::Welcome(welcome)) => welcome,
        Ok(ServerMessage::Refused(refusal)) => return Failure::refused(server, refusal, false),
        Ok(other) => return Failure::retry(unexpected(server, &other), false),
        Err(error) => return Failure::retry(error, false),
    };
    let interval = Duration::from_millis(welcome.heartbeat_interval_ms).max(MIN_INTERVAL);
    // The server answers every heartbeat; silence this long means it is gone
    // even if the connection looks open (a half-open TCP connection).
    let tolerance = interval.saturating_mul(welcome.heartbeat_misses.max(1));
    tracing::info!(
        node = %welcome.node_id,
        %server,
        server_version = %welcome.server_version,
        heartbeat = ?interval,
        "connected to the server"
    );
    let report = AgentMessage::Inventory(inventory(&info, &identity.meta));
    if let Err(error) = send(&mut connection, server, &report).await {
        return Failure::retry(error, true);
    }
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut ingress_ticks = tokio::time::interval(INGRESS_STATUS_INTERVAL);
    ingress_ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The server hears the mesh's state after its first table on this
    // connection; until something changes there is nothing new to say.
    let mut ingress_reported = ingress.status();
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(error) = send(&mut connection, server, &AgentMessage::Heartbeat).await {
                    return Failure::retry(error, true);
                }
            }
            // Reports wait in their channel, so the reconciler never waits
            // for the connection, nor heartbeats for the reconciler.
            Some(report) = reports.recv() => {
                if let Err(error) = send(&mut connection, server, &AgentMessage::TaskStatus(report)).await {
                    return Failure::retry(error, true);
                }
            }
            _ = ingress_ticks.tick() => {
                if let Some(status) = ingress.status()
                    && ingress_reported.as_ref() != Some(&status)
                {
                    ingress_reported = Some(status.clone());
                    if let Err(error) = send(&mut connection, server, &AgentMessage::IngressStatus(status)).await {
                        return Failure::retry(error, true);
                    }
                }
            }
            message = connection.recv() => match message {
                Some(Ok(ServerMessage::Heartbeat)) => last_heard = Instant::now(),
                Some(Ok(ServerMessage::Assignments { tasks: assigned })) => tasks.replace(assigned),
                Some(Ok(ServerMessage::AssignmentChanges { upsert, remove })) => tasks.update(upsert, remove),
                Some(Ok(ServerMessage::Ingress(table))) => {
                    let status = routing.apply(table);
                    ingress_reported = Some(status.clone());
                    if let Err(error) = send(&mut connection, server, &AgentMessage::IngressStatus(status)).await {
                        return Failure::retry(error, true);
                    }
                }
                Some(Ok(ServerMessage::Refused(refusal))) => return Failure::refused(server, refusal, true),
                Some(Ok(other)) => return Failure::retry(unexpected(server, &other), true),
                Some(Err(error)) => return Failure::retry(lost(server, error.to_string()), true),
                None => return Failure::retry(lost(server, "the server closed the connection".into()), true),
            },
            () = sleep_until(last_heard + tolerance) => {
                let silence = format!("the server has not answered for {} s", tolerance.as_secs_f64());
                return Failure::retry(lost(server, silence), true);
            }
        }
    }
}

/// The operator sees the caps in force, and is warned when the node-wide
/// one leaves the agent too few descriptors of its own.
fn log_mesh_limits(mesh: &Limits) {
    let open_files = open_files_limit();
    tracing::info!(
        per_port = mesh.per_port,
        total = mesh.total,
        idle_timeout_s = mesh.idle_timeout.as_secs(),
        open_files,
        "routing mesh connection limits"
    );
    let needed = mesh.descriptors_needed();
    if needed > open_files {
        tracing::warn!(
            "the routing mesh's cap of {} connections on all ports needs {needed} open files, more than this process's \
             limit of {open_files}: a full mesh can leave the agent unable to reach the server; raise the limit \
             (LimitNOFILE=, ulimit -n) or lower --mesh-max-connections",
            mesh.total
        );
    }
}

fn lost(server: &ServerAddr, cause: String) -> Error {
    Error::Connect {
        server: server.to_string(),
        cause,
    }
}
