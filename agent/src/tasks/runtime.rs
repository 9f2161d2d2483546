//! What the reconciler needs from a container engine, and what it sees of
//! one: the seam between the task decisions and Docker, so that the
//! decisions and their driver are tested against an engine in memory.

use std::{future::Future, time::Duration};

use futures_util::stream::BoxStream;
use shoal_proto::{
    service::RegistryAuth,
    wire::{Assignment, PortBinding},
};

use crate::error::Error;

/// One of this node's containers as the engine shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    /// The task it was made for, from its label; empty if the label is gone.
    pub task_id: String,
    pub status: Status,
    /// Docker's health check; `None` when the container has none.
    pub health: Option<Health>,
    /// Why the engine failed to start it.
    pub error: Option<String>,
    pub ports: Vec<PortBinding>,
    /// How long stopping it waits for the process before killing it.
    pub stop_grace: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Made but never started.
    Created,
    Running,
    Exited {
        code: i64,
        out_of_memory: bool,
    },
    /// Being removed: it is about to disappear.
    Removing,
}

/// Where a health check stands, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Passing,
    /// Neither passed nor failed yet.
    Starting,
    Failing,
}

/// A container engine on behalf of one node: every method sees and touches
/// only the containers carrying this node's label, so agents sharing an
/// engine leave each other's containers alone.
pub trait Runtime: Send + Sync + 'static {
    fn containers(&self) -> impl Future<Output = Result<Vec<Observed>, Error>> + Send;

    /// The ids of the containers made for `task_id`, whatever their state.
    fn containers_of(&self, task_id: &str) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    fn has_image(&self, image: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    fn pull(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Creates the task's container, labelled for this node, and returns its id.
    fn create(&self, assignment: &Assignment) -> impl Future<Output = Result<String, Error>> + Send;

    fn start(&self, id: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// Signals the container to stop and kills it after `grace`.
    fn stop(&self, id: &str, grace: Duration) -> impl Future<Output = Result<(), Error>> + Send;

    /// Removes the container, killing it if it still runs.
    fn remove(&self, id: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// Yields whenever one of this node's containers may have changed
    /// (started, ended, changed health, vanished); ends or fails when the
    /// engine's event stream breaks.
    fn changes(&self) -> BoxStream<'static, Result<(), Error>>;
}
