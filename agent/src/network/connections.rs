//! The container's one TCP listener, at the resolver's address: a
//! connection the NAT rules redirected from a virtual address is proxied to
//! one of that service port's backends with the routing mesh's own rules
//! (caps, least busy first, the next backend on a refusal, the idle
//! timeout), one from a task address to that task's backend alone (refused
//! if it is gone); one that came straight to the resolver is a DNS query
//! over TCP.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch, time::sleep};

use super::{
    nat::{LISTEN, original_destination},
    resolver::Resolver,
    view::View,
};
use crate::ingress::{RefusalLog, add, forward};

/// Accepts until dropped.
pub async fn accept(listener: TcpListener, resolver: Resolver, view: watch::Receiver<Arc<View>>) {
    let mut refusals = RefusalLog::new("service network");
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(error) => {
                // Out of descriptors, mostly: pause rather than spin.
                tracing::warn!("service network cannot accept a connection: {error}");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Connection tracking knows nothing of a connection no rule
        // changed: that one came to the resolver itself.
        let destination = match original_destination(&client) {
            Ok(to) if to != LISTEN => to,
            _ => {
                tokio::spawn(resolver.clone().serve_tcp(client));
                continue;
            }
        };
        let found = view.borrow().destinations.get(&destination).cloned();
        let Some(found) = found else {
            // Another network's service or task, a task gone, or none: reset, as a closed port
            // answers, rather than let the client wait.
            let _ = client.set_zero_linger();
            continue;
        };
        match found.port.caps.admit() {
            Ok(slots) => {
                let turn = found.port.turns.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let _slots = slots;
                    let port = &found.port;
                    forward(client, &found.route, &port.counters, turn, port.caps.idle_timeout).await;
                });
            }
            Err(full) => {
                drop(client);
                add(&found.port.counters.refused, 1);
                refusals.refused(SocketAddr::V4(destination), full);
            }
        }
    }
}
