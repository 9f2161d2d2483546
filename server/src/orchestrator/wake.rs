//! How the rest of the server wakes the orchestrator: a handle that sends
//! which service changed (or that everything may have), and the receiving
//! end the orchestrator's loop owns.

use tokio::sync::mpsc;

#[derive(Debug)]
pub(super) enum Trigger {
    Service(String),
    All,
}

/// The handle the rest of the server uses to wake the orchestrator.
#[derive(Clone)]
pub struct Orchestrator {
    sender: mpsc::UnboundedSender<Trigger>,
}

pub struct Wakeups(pub(super) mpsc::UnboundedReceiver<Trigger>);

impl Orchestrator {
    pub fn new() -> (Self, Wakeups) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender }, Wakeups(receiver))
    }

    /// A service's spec changed, or one of its tasks ended.
    pub fn service_changed(&self, id: &str) {
        let _ = self.sender.send(Trigger::Service(id.to_owned()));
    }

    /// Something every service may care about: a node came, went or changed.
    pub fn cluster_changed(&self) {
        let _ = self.sender.send(Trigger::All);
    }
}
