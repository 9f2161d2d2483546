//! Which nodes are in touch right now. Kept in memory, next to the
//! connections it describes: a restarted server knows its nodes from the
//! store but has not heard from them, so they are `unknown` until they
//! reconnect or the time to do so has passed (then `down`).

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use shoal_proto::{Millis, node::NodeStatus, wire::Refusal};
use tokio::{sync::oneshot, time::Instant};

/// How often agents send a heartbeat and how many may go missing before
/// their node is `down`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub interval: Duration,
    pub misses: u32,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            misses: 3,
        }
    }
}

impl Heartbeat {
    /// How long a node may stay silent and still be ready.
    pub fn tolerance(self) -> Duration {
        self.interval.saturating_mul(self.misses)
    }

    /// When a node last heard from at `last_seen` turns down.
    pub fn deadline(self, last_seen: Instant) -> Instant {
        last_seen + self.tolerance()
    }

    pub fn is_down(self, last_seen: Instant, now: Instant) -> bool {
        now.saturating_duration_since(last_seen) >= self.tolerance()
    }
}

#[derive(Default)]
pub struct Presence {
    nodes: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    status: NodeStatus,
    last_heartbeat_at: Option<Millis>,
    /// The connection that speaks for the node; an older one that ends
    /// later must not mark the node down.
    session: u64,
    /// Ends that connection with a reason (node removed); dropping it ends
    /// the connection quietly (replaced by a newer one).
    kick: Option<oneshot::Sender<Refusal>>,
}

impl Entry {
    fn unknown() -> Self {
        Self {
            status: NodeStatus::Unknown,
            last_heartbeat_at: None,
            session: 0,
            kick: None,
        }
    }
}

/// A connection's claim to speak for its node.
pub struct Ticket {
    pub session: u64,
    /// Fires when an admin removes the node; closes when a newer connection
    /// of the same node takes over.
    pub kicked: oneshot::Receiver<Refusal>,
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

impl Presence {
    /// The nodes in the store, none heard from yet.
    pub fn with_nodes(ids: impl IntoIterator<Item = String>) -> Self {
        Self {
            nodes: Mutex::new(ids.into_iter().map(|id| (id, Entry::unknown())).collect()),
        }
    }

    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map stays consistent whatever panicked while holding it.
        self.nodes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A node that has just joined and has not connected yet.
    pub fn add(&self, id: &str) {
        self.nodes().entry(id.to_owned()).or_insert_with(Entry::unknown);
    }

    /// A node's connection was accepted: it is ready. Returns the ticket and
    /// whether the status changed.
    pub fn open(&self, id: &str, at: Millis) -> (Ticket, bool) {
        let (kick, kicked) = oneshot::channel();
        let session = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
        let mut nodes = self.nodes();
        let entry = nodes.entry(id.to_owned()).or_insert_with(Entry::unknown);
        let changed = entry.status != NodeStatus::Ready;
        *entry = Entry {
            status: NodeStatus::Ready,
            last_heartbeat_at: Some(at),
            session,
            kick: Some(kick),
        };
        (Ticket { session, kicked }, changed)
    }

    pub fn beat(&self, id: &str, session: u64, at: Millis) {
        if let Some(entry) = self.nodes().get_mut(id)
            && entry.session == session
        {
            entry.last_heartbeat_at = Some(at);
        }
    }

    /// The node missed its heartbeats on this session: down, unless a newer
    /// connection speaks for it or it was removed. Returns whether it changed.
    pub fn expire(&self, id: &str, session: u64) -> bool {
        match self.nodes().get_mut(id) {
            Some(entry) if entry.session == session && entry.status != NodeStatus::Down => {
                entry.status = NodeStatus::Down;
                entry.kick = None;
                true
            }
            _ => false,
        }
    }

    /// Nodes not heard from since the server started are down once the time
    /// to reconnect has passed. Returns them.
    pub fn expire_silent(&self) -> Vec<String> {
        let mut nodes = self.nodes();
        nodes
            .iter_mut()
            .filter(|(_, entry)| entry.status == NodeStatus::Unknown && entry.session == 0)
            .map(|(id, entry)| {
                entry.status = NodeStatus::Down;
                id.clone()
            })
            .collect()
    }

    /// Forgets a removed node, handing back the way to end its connection.
    pub fn remove(&self, id: &str) -> Option<oneshot::Sender<Refusal>> {
        self.nodes().remove(id).and_then(|entry| entry.kick)
    }

    pub fn status(&self, id: &str) -> (NodeStatus, Option<Millis>) {
        self.nodes().get(id).map_or((NodeStatus::Unknown, None), |entry| {
            (entry.status, entry.last_heartbeat_at)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Heartbeat = Heartbeat {
        interval: Duration::from_secs(5),
        misses: 3,
    };

    #[test]
    fn a_node_is_down_after_missing_the_allowed_heartbeats() {
        let seen = Instant::now();
        let at = |secs: u64| seen + Duration::from_secs(secs);
        assert!(!BEAT.is_down(seen, seen));
        assert!(!BEAT.is_down(seen, at(14)));
        assert!(BEAT.is_down(seen, at(15)));
        assert!(BEAT.is_down(seen, at(60)));
        assert_eq!(BEAT.deadline(seen), at(15));
        let strict = Heartbeat {
            interval: Duration::from_secs(1),
            misses: 1,
        };
        assert!(strict.is_down(seen, at(1)));
        // A clock read before `last_seen` (another thread's) is not a miss.
        assert!(!BEAT.is_down(at(10), seen));
    }

    #[test]
    fn nodes_start_unknown_and_go_down_if_they_stay_silent() {
        let presence = Presence::with_nodes(["a".to_owned(), "b".to_owned()]);
        assert_eq!(presence.status("a"), (NodeStatus::Unknown, None));
        let (_ticket, changed) = presence.open("a", 100);
        assert!(changed);
        assert_eq!(presence.status("a"), (NodeStatus::Ready, Some(100)));
        assert_eq!(presence.expire_silent(), vec!["b".to_owned()]);
        assert_eq!(presence.status("b").0, NodeStatus::Down);
        assert_eq!(presence.status("a").0, NodeStatus::Ready);
    }

    #[test]
    fn only_the_newest_connection_can_mark_its_node_down() {
        let presence = Presence::default();
        let (old, _) = presence.open("a", 1);
        let (new, changed) = presence.open("a", 2);
        assert!(!changed, "still ready");
        presence.beat("a", old.session, 50);
        assert_eq!(
            presence.status("a").1,
            Some(2),
            "the old session's beat is ignored"
        );
        assert!(!presence.expire("a", old.session));
        assert_eq!(presence.status("a").0, NodeStatus::Ready);
        assert!(presence.expire("a", new.session));
        assert!(!presence.expire("a", new.session), "already down");
        assert_eq!(presence.status("a").0, NodeStatus::Down);
    }

    #[tokio::test]
    async fn a_replaced_connection_is_ended_quietly_and_a_removed_one_with_a_reason() {
        let presence = Presence::default();
        let (old, _) = presence.open("a", 1);
        let (new, _) = presence.open("a", 2);
        assert!(old.kicked.await.is_err(), "closed without a reason");
        let kick = presence.remove("a").expect("a live connection");
        kick.send(Refusal {
            code: shoal_proto::wire::RefusalCode::NodeRemoved,
            message: "removed".into(),
        })
        .unwrap();
        assert_eq!(new.kicked.await.unwrap().message, "removed");
        assert!(
            !presence.expire("a", new.session),
            "a removed node is not marked down"
        );
    }
}
