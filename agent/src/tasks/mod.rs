//! Running the node's tasks: the server assigns tasks, the reconciler makes
//! the container engine match them and reports every task's state back.
//!
//! - `plan`: what to do, decided from plain data;
//! - `report`: what a container says about its task, and `health` what its
//!   health checks say;
//! - `probe`: the agent's own health probes of tasks;
//! - `runtime`: the engine as the reconciler sees it. Docker's side (the
//!   agent's `docker` module) implements it and depends on this module, never
//!   the reverse, so nothing here names that module;
//! - `operation`: the engine steps of each decision;
//! - `reconciler`: the loop that looks at the engine, plans and runs
//!   operations, and passes reports on.

#[cfg(test)]
mod fake;
mod health;
mod operation;
mod plan;
mod probe;
mod reconciler;
mod report;
mod runtime;

pub use reconciler::Reconciler;
pub use runtime::{Health, Observed, Runtime, Status};
