//! The dispatcher: a nudge to a node's session when what the node should
//! run changes. The store is the truth; a session that is nudged (or
//! connects) reads its node's set (`gateway::assignments`) and sends the
//! difference, so nothing is lost when a nudge coalesces with another.

use std::{collections::HashMap, sync::Mutex};

use shoal_proto::wire::Assignment;
use tokio::sync::watch;

#[derive(Default)]
pub struct Dispatcher {
    nodes: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Dispatcher {
    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        self.nodes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Nudges for one node; subscribe before reading the set, so a change
    /// made in between is not missed.
    pub fn subscribe(&self, node_id: &str) -> watch::Receiver<u64> {
        self.nodes()
            .entry(node_id.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    pub fn notify(&self, node_id: &str) {
        if let Some(sender) = self.nodes().get(node_id) {
            sender.send_modify(|generation| *generation += 1);
        }
    }
}

/// What to send a node that was last sent `sent` and should now have
/// `current`: the new or changed assignments and the ids that left.
pub fn changes(sent: &HashMap<String, Assignment>, current: &[Assignment]) -> (Vec<Assignment>, Vec<String>) {
    let upsert = current
        .iter()
        .filter(|a| sent.get(&a.task_id) != Some(a))
        .cloned()
        .collect();
    let remaining: std::collections::HashSet<&str> = current.iter().map(|a| a.task_id.as_str()).collect();
    let mut remove: Vec<String> = sent
        .keys()
        .filter(|id| !remaining.contains(id.as_str()))
        .cloned()
        .collect();
    remove.sort();
    (upsert, remove)
}
