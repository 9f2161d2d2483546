//! `shoal-server`: the console, the REST API, the agent gateway and (later)
//! the orchestrator, around one store.

pub mod admin_cli;
pub mod auth;
pub mod ca;
pub mod changes;
pub mod config;
mod console;
pub mod ctx;
pub mod dispatcher;
pub mod error;
pub mod events;
pub mod gateway;
pub mod history;
pub mod hooks;
pub mod http;
pub mod ingress;
pub mod ops;
pub mod orchestrator;
pub mod presence;
mod private_files;
pub mod shutdown;
mod site;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod views;
