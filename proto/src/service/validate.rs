//! Checks a spec beyond what its types say, naming the field at fault.

use super::ServiceSpec;
use crate::auth::FieldError;

/// What a masked registry password reads as; sending it back unchanged keeps
/// the stored one.
pub const MASKED_PASSWORD: &str = "********";

impl ServiceSpec {
    pub fn validate(&self) -> Result<(), FieldError> {
        todo!("spec validation")
    }

    /// The spec as shown to users: the registry password masked.
    pub fn masked(&self) -> ServiceSpec {
        todo!("masking")
    }
}
