//! What changed between two revisions, field by field.

use serde::{Deserialize, Serialize};

use super::ServiceSpec;

/// One changed field: `path` is dotted (`update_config.parallelism`,
/// `environment.GREETING`, `ports[0].published`); a missing side means the
/// field was added or removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub fn diff(before: &ServiceSpec, after: &ServiceSpec) -> Vec<FieldChange> {
    let _ = (before, after);
    todo!("spec diff")
}
