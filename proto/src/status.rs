use serde::{Deserialize, Serialize};

/// What the console shows about the server it is talking to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub version: String,
    pub cluster_id: String,
    /// Human name of the database backend, e.g. "SQLite".
    pub database: String,
    pub uptime_secs: u64,
}
