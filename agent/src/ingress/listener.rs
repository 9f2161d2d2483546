//! One published TCP port: a socket on the node's address that hands every
//! accepted connection to the proxy with the port's current route.
//!
//! A port that cannot be bound is retried every few seconds and its error
//! kept for the status: another program may free it, and the operator must
//! see why the mesh does not answer on this node. Dropping the [`Listener`]
//! stops accepting; connections already proxied run to their end.
//!
//! A connection that would pass the port's cap or the node's is accepted
//! and closed at once, never left waiting: a loop that stopped accepting
//! would let the kernel's backlog fill, clients would hang in it, and
//! nothing would say why.

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use shoal_proto::wire::PortMetrics;
use tokio::{
    net::{TcpListener, TcpSocket},
    sync::watch,
    time::{Instant, sleep, sleep_until},
};

use super::{
    admission::{Caps, RefusalLog},
    balance::Route,
    counters::{Counters, LimitMetrics, add},
    limits::Limits,
    proxy,
    slots::Slots,
};

/// How long a port that could not be bound waits before the next try.
pub const BIND_RETRY: Duration = Duration::from_secs(3);
/// Pending connections the kernel queues: a burst of new clients must not
/// be refused while the accept loop catches up.
const BACKLOG: u32 = 1024;

#[derive(Debug, Default)]
struct Shared {
    counters: Counters,
    /// Connections accepted, for taking turns across routes.
    turns: AtomicUsize,
    /// Why the port is not listening, while it is not.
    error: Mutex<Option<String>>,
}

impl Shared {
    fn set_error(&self, error: Option<String>) {
        *self.error.lock().unwrap_or_else(PoisonError::into_inner) = error;
    }

    fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop reads the route from here; dropping the sender is
    /// what stops it.
    route: watch::Sender<Arc<Route>>,
}

impl Listener {
    /// Binds now, so the status sent right after a table already says
    /// whether the port works; must run inside the tokio runtime. `node` is
    /// the node-wide cap, shared by every port.
    pub fn open(addr: SocketAddr, route: Route, limits: &Limits, node: Arc<Slots>) -> Self {
        let shared = Arc::new(Shared::default());
        let (sender, receiver) = watch::channel(Arc::new(route));
        let bound = match bind(addr) {
            Ok(listener) => {
                tracing::info!(%addr, "ingress listening");
                Some(listener)
            }
            Err(error) => {
                tracing::warn!("ingress: {error}; retrying every {} s", BIND_RETRY.as_secs());
                shared.set_error(Some(error));
                None
            }
        };
        let caps = Caps {
            port: Slots::new(limits.per_port),
            node,
            idle_timeout: limits.idle_timeout,
        };
        tokio::spawn(run(addr, bound, receiver, Arc::clone(&shared), caps));
        Self {
            addr,
            shared,
            route: sender,
        }
    }

    /// Swaps the whole backend list at once; connections already proxied
    /// keep the backend they have.
    pub fn set_route(&self, route: Route) {
        self.route.send_replace(Arc::new(route));
    }

    pub fn route(&self) -> Arc<Route> {
        Arc::clone(&self.route.borrow())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn error(&self) -> Option<String> {
        self.shared.error()
    }

    pub fn metrics(&self) -> PortMetrics {
        self.shared.counters.snapshot()
    }

    pub fn limit_metrics(&self) -> LimitMetrics {
        self.shared.counters.limit_snapshot()
    }
}

async fn run(
    addr: SocketAddr,
    mut bound: Option<TcpListener>,
    mut route: watch::Receiver<Arc<Route>>,
    shared: Arc<Shared>,
    caps: Caps,
) {
    let mut next_bind = Instant::now() + BIND_RETRY;
    let mut refusals = RefusalLog::new("ingress");
    loop {
        let Some(listener) = &bound else {
            tokio::select! {
                () = sleep_until(next_bind) => {}
                changed = route.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => return,
                },
            }
            next_bind = Instant::now() + BIND_RETRY;
            match bind(addr) {
                Ok(listener) => {
                    tracing::info!(%addr, "ingress listening, after all");
                    shared.set_error(None);
                    bound = Some(listener);
                }
                Err(error) => {
                    // Logged when it changes, not every few seconds.
                    if shared.error().as_ref() != Some(&error) {
                        tracing::warn!("ingress: {error}; retrying every {} s", BIND_RETRY.as_secs());
                    }
                    shared.set_error(Some(error));
                }
            }
            continue;
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => match caps.admit() {
                    Ok(slots) => {
                        // The route at the moment of the accept, whole: a table
                        // swapped meanwhile applies from the next connection.
                        let route = Arc::clone(&route.borrow());
                        let turn = shared.turns.fetch_add(1, Ordering::Relaxed);
                        let shared = Arc::clone(&shared);
                        let idle_timeout = caps.idle_timeout;
                        tokio::spawn(async move {
                            // The slots go back when the connection ends.
                            let _slots = slots;
                            proxy::forward(client, &route, &shared.counters, turn, idle_timeout).await;
                        });
                    }
                    Err(full) => {
                        drop(client);
                        add(&shared.counters.refused, 1);
                        refusals.refused(addr, full);
                    }
                },
                Err(error) => {
                    // Out of file descriptors, mostly: pause instead of
                    // spinning on an error that persists.
                    tracing::warn!(%addr, "ingress cannot accept a connection: {error}");
                    sleep(Duration::from_millis(100)).await;
                }
            },
            changed = route.changed() => {
                if changed.is_err() {
                    tracing::info!(%addr, "ingress stopped listening");
                    return;
                }
            }
        }
    }
}

fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    let listen = || -> io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // A restarted agent takes its ports back while old connections
        // linger in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    listen().map_err(|error| bind_error(addr, &error))
}

/// Says what is wrong with the port in the operator's terms.
pub fn bind_error(addr: SocketAddr, error: &io::Error) -> String {
    let port = addr.port();
    let ip = if addr.ip().is_unspecified() {
        "any address".to_owned()
    } else {
        addr.ip().to_string()
    };
    match error.kind() {
        io::ErrorKind::AddrInUse => format!("port {port} on {ip} is in use by another program"),
        io::ErrorKind::PermissionDenied => format!(
            "not allowed to listen on port {port} on {ip}: ports below 1024 need root or CAP_NET_BIND_SERVICE"
        ),
        io::ErrorKind::AddrNotAvailable => {
            format!("cannot listen on port {port}: {ip} is not an address of this host")
        }
        _ => format!("cannot listen on port {port} on {ip}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_errors_name_the_port_and_the_cause() {
        let addr: SocketAddr = "127.0.0.2:18080".parse().unwrap();
        let in_use = io::Error::from(io::ErrorKind::AddrInUse);
        assert_eq!(
            bind_error(addr, &in_use),
            "port 18080 on 127.0.0.2 is in use by another program"
        );
        let any: SocketAddr = "0.0.0.0:80".parse().unwrap();
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(bind_error(any, &denied).starts_with("not allowed to listen on port 80 on any address"));
    }
}
