//! `shoal-server`: the console, the REST API and (later) the agent gateway and
//! orchestrator, around one store.

pub mod config;
mod console;
pub mod error;
mod http;
pub mod shutdown;
mod site;
pub mod startup;
pub mod store;
pub mod telemetry;
