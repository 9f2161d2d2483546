//! The agent's half of the routing mesh: every node listens on each
//! service's published ports and forwards connections to the service's
//! healthy tasks, wherever they run. The server sends the whole table
//! (`ServerMessage::Ingress`); the node answers with what it listens on and
//! its counters (`AgentMessage::IngressStatus`).
//!
//! - `plan`: which listeners a new table opens, keeps or closes;
//! - `balance`: a port's backends, and the order a connection tries them;
//! - `proxy`: one client connection, from choosing a backend to its end;
//! - `listener`: one published port's socket and accept loop;
//! - `limits`, `slots` and `admission`: how many connections a port and the
//!   node may hold, and how long one may idle;
//! - `counters`: the per-port counters the proxy adds to;
//! - `mesh`: [`Ingress`], all listeners made to match each table;
//! - `exposition` and `exporter`: the counters for Prometheus.

mod admission;
mod balance;
mod counters;
mod exporter;
mod exposition;
mod limits;
mod listener;
mod mesh;
mod plan;
mod proxy;
mod slots;
#[cfg(test)]
mod starvation;
#[cfg(test)]
mod tests;

// The service networks' forwarding is the mesh's, from other listeners.
pub(crate) use admission::{Caps, RefusalLog};
pub(crate) use balance::Route;
pub(crate) use counters::{Counters, add};
pub use exporter::serve_metrics;
pub use limits::{IDLE_TIMEOUT, Limits, PORT_CONNECTIONS, default_total, open_files_limit};
pub use listener::BIND_RETRY;
pub(crate) use listener::bind_error;
pub use mesh::{Ingress, UDP_UNSUPPORTED};
pub use proxy::CONNECT_TIMEOUT;
pub(crate) use proxy::forward;
pub(crate) use slots::Slots;
