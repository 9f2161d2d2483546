//! Everything two Shoal programs must agree on: the shapes exchanged between
//! the server, the agent and the console, with their validation.

pub mod auth;
pub mod container;
pub mod dashboard;
pub mod event;
mod field_error;
#[cfg(feature = "io")]
pub mod framing;
pub mod ingress;
pub mod join_token;
pub mod network;
pub mod node;
pub mod service;
pub mod status;
pub mod webhook;
pub mod wire;

pub use field_error::FieldError;

/// Times are Unix milliseconds (UTC) everywhere on the wire.
pub type Millis = i64;
