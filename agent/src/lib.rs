//! The Shoal node agent. The `shoal-agent` binary is a thin shell around
//! [`cli::Cli`]; the library form lets integration tests drive parts such as
//! the task reconciler against a real Docker engine without a server.

mod backoff;
pub mod cli;
mod connection;
pub mod docker;
pub mod docker_host;
pub mod doctor;
pub mod engine;
pub mod error;
mod identity;
pub mod ingress;
mod inventory;
mod join;
pub mod network;
mod session;
pub mod tasks;
mod tls;
