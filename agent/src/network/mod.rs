//! The agent's side of service networks (docs/networking.md, On the node): inside
//! every container of a task on a network, a resolver at
//! `network::RESOLVER` that answers the names of the services sharing one
//! of its networks, and their virtual addresses, forwarded to the
//! services' tasks on any node with the routing mesh's rules, and an
//! address for each task, listed by `tasks.NAME`. All of it
//! lives on the container's own loopback, so nothing is taken on the host
//! and isolation is what each container is given.
//!
//! - `reach`: what one container may resolve and connect to, from the table;
//! - `dns`: queries read, answers written and decided, without sockets;
//! - `routes` and `view`: the node's routes, and one container's view;
//! - `netns`: opening sockets inside a container's namespace;
//! - `tasks`: the node's address for each task;
//! - `nat`: the rules that send virtual and task addresses to the agent's
//!   listener;
//! - `resolver` and `connections`: what serves each container;
//! - `sandbox`: one container's servers; `node`: [`Networks`], all of them;
//! - `host`: what the host must offer, checked by `shoal-agent doctor`.

mod connections;
mod dns;
pub mod host;
mod nat;
pub mod netns;
mod node;
mod reach;
mod resolver;
mod routes;
mod sandbox;
mod tasks;
mod view;

pub use node::{Container, Networks};
pub use resolver::host_upstreams;
