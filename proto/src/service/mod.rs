//! Services as operators write them (the spec), as the server keeps them
//! (numbered revisions) and as it runs them (tasks), with the validation the
//! console form, the REST API and the server share.

mod constraint;
mod diff;
mod health;
mod rollout;
mod spec;
mod task;
mod units;
mod validate;
mod view;

pub use constraint::{Constraint, ConstraintAttr, ConstraintOp, Preference};
pub use diff::{FieldChange, diff};
pub use health::{HEALTH_KEYS, ServiceHealth, health_key_label};
pub use rollout::*;
pub use spec::*;
pub use task::*;
pub use units::{ByteSize, Duration};
pub use validate::MASKED_PASSWORD;
pub use view::*;
