//! Everything two Shoal programs must agree on: the shapes exchanged between
//! the server, the agent and the console, with their validation.

pub mod auth;
pub mod status;
