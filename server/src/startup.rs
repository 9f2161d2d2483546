//! Building the server apart from running it, so tests can bind port 0 and
//! drive the real application.

use std::{future::Future, io, net::SocketAddr, path::Path, sync::Arc, time::Instant};

use axum::Router;
use tokio::net::TcpListener;

use crate::{
    config::Config,
    console::ConsoleBackend,
    error::StartupError,
    http::{self, AppState},
    site,
    store::Store,
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        prepare_data_dir(&config.data_dir).map_err(|source| StartupError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let store = Store::open(&config.database_url).await?;
        let cluster_id = store.cluster_id().await?;
        let backend = Arc::new(ConsoleBackend {
            store: store.clone(),
            cluster_id,
            started: Instant::now(),
        });
        let state = AppState {
            leptos_options: site::leptos_options(config.site_root.as_deref()),
            backend,
            store: store.clone(),
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.listen,
                source,
            })?;
        Ok(Self {
            listener,
            router: http::router(state),
            store,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let addr = self.local_addr();
        tracing::info!(%addr, "listening");
        println!("Shoal console: {}", console_url(addr));
        let served = axum::serve(
            self.listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        self.store.close().await;
        served.map_err(StartupError::Serve)
    }
}

/// The data directory must exist and take writes before anything else starts,
/// so a bad path fails with one clear line instead of a database error later.
fn prepare_data_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
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
