//! Building the server apart from running it, so tests can bind port 0 and
//! drive the real application.

use std::{future::Future, io, net::SocketAddr, path::Path, sync::Arc, time::Instant};

use axum::Router;
use tokio::net::TcpListener;

use crate::{
    auth::{session, throttle::Throttle},
    ca::ClusterCa,
    config::Config,
    console::ConsoleBackend,
    ctx::Ctx,
    dispatcher::Dispatcher,
    error::StartupError,
    events::EventBus,
    gateway::Gateway,
    http::{self, AppState},
    ingress, ops,
    orchestrator::{
        self,
        wake::{Orchestrator, Wakeups},
    },
    presence::Presence,
    private_files, site,
    store::{OpenError, Store},
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    gateway: Gateway,
    ctx: Ctx,
    wakeups: Wakeups,
    setup_token: Option<String>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let (mut ctx, wakeups) = open_parts(&config).await?;
        let sessions = session::layer(&config.database_url, config.sessions)
            .await
            .map_err(|source| OpenError::Database {
                url: config.database_url.clone(),
                source,
            })?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.listen,
                source,
            })?;
        // Before anything else holds a copy of the context: binding settles
        // the address that join commands show.
        let gateway = Gateway::bind(&config.agents, &mut ctx, &hostname()).await?;
        let state = AppState {
            leptos_options: site::leptos_options(config.site_root.as_deref()),
            backend: Arc::new(ConsoleBackend { ctx: ctx.clone() }),
            ctx: ctx.clone(),
        };
        // Issued before serving, so the printed link is valid the moment it shows.
        let setup_token = ops::setup::issue_link_token(&ctx).await.unwrap_or_else(|error| {
            tracing::error!(%error, "cannot issue the first-admin setup link");
            None
        });
        Ok(Self {
            listener,
            router: http::router(state, sessions),
            gateway,
            ctx,
            wakeups,
            setup_token,
        })
    }

    /// The shared context, for tests and tools that act beside the HTTP side.
    pub fn context(&self) -> Ctx {
        self.ctx.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where the agent gateway listens.
    pub fn agent_addr(&self) -> SocketAddr {
        self.gateway.local_addr()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let addr = self.local_addr();
        let url = console_url(addr);
        tracing::info!(%addr, agents = %self.agent_addr(), "listening");
        println!("Shoal console: {url}");
        println!("Agents join at: {}", self.ctx.agent_address);
        if let Some(token) = &self.setup_token {
            println!(
                "First-admin setup (valid 24 h, once): {url}setup?token={token}\n\
                 (or run `shoal-server admin create --username NAME` on this host)"
            );
        }
        // Listening before the agents connect, so no node's return is missed.
        let history = crate::history::spawn(self.ctx.clone());
        let agents = tokio::spawn(self.gateway.run());
        let orchestrator = tokio::spawn(orchestrator::run(self.ctx.clone(), self.wakeups));
        let mesh = tokio::spawn(ingress::recompute::run(self.ctx.clone()));
        let served = axum::serve(
            self.listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        // Ends every agent connection too; agents reconnect to the next server.
        agents.abort();
        orchestrator.abort();
        mesh.abort();
        history.abort();
        self.ctx.store.close().await;
        served.map_err(StartupError::Serve)
    }
}

/// The data directory, the store, the cluster CA and the shared context,
/// without the HTTP side and the gateway: also what `shoal-server admin
/// create` needs.
pub async fn open_context(config: &Config) -> Result<Ctx, StartupError> {
    open_parts(config).await.map(|(ctx, _)| ctx)
}

/// The context, and the orchestrator's wake-ups for the server that runs it.
async fn open_parts(config: &Config) -> Result<(Ctx, Wakeups), StartupError> {
    prepare_data_dir(&config.data_dir).map_err(|source| StartupError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let store = Store::open(&config.database_url).await?;
    let cluster_id = store.cluster_id().await?;
    let ca = ClusterCa::load_or_create(&config.data_dir, &cluster_id)?;
    let presence = Presence::with_nodes(store.node_ids().await?);
    let (orchestrator, wakeups) = Orchestrator::new();
    let ctx = Ctx {
        store,
        throttle: Arc::new(Throttle::default()),
        sessions: config.sessions,
        trusted_proxies: config.trusted_proxies.clone().into(),
        cluster_id: cluster_id.into(),
        started: Instant::now(),
        ca: Arc::new(ca),
        presence: Arc::new(presence),
        events: EventBus::default(),
        heartbeat: config.agents.heartbeat,
        // Settled by `Gateway::bind` once the port is known.
        agent_address: config.agents.listen.to_string().into(),
        reschedule_after: config.agents.reschedule_after,
        orchestrator,
        dispatcher: Arc::new(Dispatcher::default()),
        hooks: Arc::default(),
        ingress: Arc::default(),
    };
    ops::join_tokens::ensure(&ctx).await?;
    Ok((ctx, wakeups))
}

fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// The data directory must exist and take writes before anything else starts,
/// so a bad path fails with one clear line instead of a database error later.
fn prepare_data_dir(dir: &Path) -> io::Result<()> {
    private_files::create_dir(dir)?;
    private_files::warn_if_exposed(dir, "the data directory");
    let probe = dir.join(".shoal-write-test");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

fn console_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}/", addr.port())
    } else {
        format!("http://{addr}/")
    }
}
