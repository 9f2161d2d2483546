//! The error every validation returns: which field, and what to do about
//! it, so a form can show it next to the field and an API client can point
//! at it. Shared by every kind of input, hence at the crate's root.

use serde::{Deserialize, Serialize};

/// A rejected input value, naming the field so a form or an API client can
/// point at it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
