//! One container on service networks, as the agent serves it: a resolver
//! and the virtual addresses' listener inside its namespace, fed the
//! container's current view. Dropping the [`Sandbox`] closes its sockets.

use std::{
    net::{SocketAddr, UdpSocket},
    sync::Arc,
};

use tokio::{sync::watch, task::AbortHandle, time::sleep};

use super::{
    connections::accept,
    nat::{self, LISTEN, NatError},
    netns::Namespace,
    resolver::Resolver,
    view::View,
};
use crate::ingress::{BIND_RETRY, bind_error};

pub struct Sandbox {
    /// The container's main process when it was opened: a container started
    /// again has another one, and another namespace.
    pub pid: u32,
    view: watch::Sender<Arc<View>>,
    task: AbortHandle,
}

impl Sandbox {
    /// Starts serving `container` (for the log) in `namespace`; must run
    /// inside the tokio runtime. Sockets that cannot be opened yet (the
    /// container's own program holds port 53) are tried again every few
    /// seconds.
    pub fn open(
        container: String,
        pid: u32,
        namespace: Namespace,
        view: View,
        upstreams: Arc<[SocketAddr]>,
    ) -> Self {
        let (sender, receiver) = watch::channel(Arc::new(view));
        let task = tokio::spawn(run(container, Arc::new(namespace), receiver, upstreams)).abort_handle();
        Self {
            pid,
            view: sender,
            task,
        }
    }

    /// Swaps what the container is served, at once for new queries and
    /// connections; connections already proxied keep their backend.
    pub fn set_view(&self, view: View) {
        self.view.send_replace(Arc::new(view));
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The sockets belong to the task; connections already proxied run on.
        self.task.abort();
    }
}

async fn run(
    container: String,
    namespace: Arc<Namespace>,
    view: watch::Receiver<Arc<View>>,
    upstreams: Arc<[SocketAddr]>,
) {
    let mut said = None;
    let (udp, tcp) = loop {
        match open(Arc::clone(&namespace)).await {
            Ok(opened) => break opened,
            Err(error) => {
                if said.as_ref() != Some(&error) {
                    tracing::warn!(%container, "service networks: {error}; retrying every {} s", BIND_RETRY.as_secs());
                    said = Some(error);
                }
                sleep(BIND_RETRY).await;
            }
        }
    };
    tracing::info!(%container, "service networks: resolver and virtual addresses open in the container");
    let resolver = Resolver::new(view.clone(), upstreams);
    tokio::join!(resolver.clone().serve_udp(udp), accept(tcp, resolver, view));
}

/// The resolver's sockets, made inside the container, and the rules that
/// redirect virtual and task addresses to them.
async fn open(namespace: Arc<Namespace>) -> Result<(tokio::net::UdpSocket, tokio::net::TcpListener), String> {
    let inside = move || namespace.run(sockets).map_err(|error| error.to_string())?;
    let (udp, tcp, nat) = tokio::task::spawn_blocking(inside)
        .await
        .map_err(|error| error.to_string())??;
    if let Err(error) = nat {
        // Names still resolve; connections to them are refused until the
        // host is fixed and the container started again.
        tracing::warn!("service networks: {error}");
    }
    let udp = tokio::net::UdpSocket::from_std(udp).map_err(|error| error.to_string())?;
    let tcp = tokio::net::TcpListener::from_std(tcp).map_err(|error| error.to_string())?;
    Ok((udp, tcp))
}

type Opened = (UdpSocket, std::net::TcpListener, Result<(), NatError>);

/// Runs inside the container's namespace.
fn sockets() -> Result<Opened, String> {
    let addr = SocketAddr::V4(LISTEN);
    let error = |e: std::io::Error| bind_error(addr, &e);
    // std sets SO_REUSEADDR on TCP listeners: an agent restarted takes the
    // port back while connections it had linger.
    let udp = UdpSocket::bind(addr).map_err(error)?;
    let tcp = std::net::TcpListener::bind(addr).map_err(error)?;
    udp.set_nonblocking(true).map_err(error)?;
    tcp.set_nonblocking(true).map_err(error)?;
    Ok((udp, tcp, nat::redirect()))
}
