//! The agent's own health probe of a task, from the node through the host
//! binding of one of the task's ports: an HTTP GET that must answer 2xx or
//! 3xx, or a TCP connection that must open.
//!
//! - `target`: which tasks are probed, and where (pure);
//! - `tracker`: how attempts add up to a verdict (pure);
//! - `attempt`: one attempt over the network;
//! - `runners`: a loop of attempts per probed task, started and stopped as
//!   the reconciler's looks at the engine say.

mod attempt;
mod runners;
mod target;
mod tracker;

pub use runners::{Change, Runners};
pub use target::{address, describe, targets};
pub use tracker::Verdict;
