//! `shoal-server`: the console, the REST API and (later) the agent gateway and
//! orchestrator, around one store.

pub mod admin_cli;
pub mod auth;
pub mod config;
mod console;
pub mod error;
pub mod http;
pub mod ops;
pub mod shutdown;
mod site;
pub mod startup;
pub mod store;
pub mod telemetry;
