//! The event bus: what changed, for whoever listens right now (the console
//! through `GET /api/v1/events`). Nothing is kept for later listeners; they
//! read the current state from the API first.

use shoal_proto::event::Event;
use tokio::sync::broadcast;

/// Enough for bursts (a server restart brings every node back at once);
/// a listener that falls further behind is told to reload.
const CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    pub fn publish(&self, event: Event) {
        // Nobody listening is the normal case.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
