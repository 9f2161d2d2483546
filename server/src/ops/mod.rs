//! What the server does on behalf of a caller, shared by the REST API and the
//! console's server functions. Role checks happen before these run (see
//! `auth::authorize`); the rules that depend on data (the last admin, a
//! token's role, whose token it is) live here, with the audit records.

pub mod audit;
pub mod dashboard;
pub mod ingress;
pub mod join_tokens;
pub mod networks;
pub mod nodes;
pub mod revise;
pub mod rollouts;
pub mod services;
pub mod session;
pub mod setup;
pub mod status;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod webhooks;
