//! The cluster's recent history, recorded in one place: a listener on the
//! event bus that turns notable transitions (a node going down or coming
//! back, joining or removed; a rollout starting, from a webhook or by hand,
//! turning back, ending) into lines of the `cluster_events` table, and
//! announces each new line on the bus for the dashboard.
//!
//! What is worth a line is decided from the event and the newest line kept
//! about the same node, never from memory alone: a restarted server, or a
//! listener that fell behind, carries on from the stored lines. Rollout
//! lines carry a key (`rollout:<id>:started`…) so replaying them is a no-op.

use std::collections::HashSet;

use shoal_proto::{
    Millis,
    dashboard::ClusterEventKind,
    event::Event,
    node::{Node, NodeStatus},
    service::{Rollout, RolloutState},
};
use tokio::{sync::broadcast::error::RecvError, task::JoinHandle};

use crate::{
    changes::Changes,
    ctx::Ctx,
    store::{NewClusterEvent, now_millis},
};

/// How many recent rollouts a catch-up looks at after the listener fell behind.
const CATCH_UP_ROLLOUTS: u64 = 50;
/// Keys remembered to skip rewriting a line the table already has.
const SEEN_MAX: usize = 4096;

/// Subscribes at once (so nothing published after this call is missed) and
/// records in the background until the bus closes.
pub fn spawn(ctx: Ctx) -> JoinHandle<()> {
    let events = ctx.events.subscribe();
    tokio::spawn(async move {
        let mut recorder = Recorder {
            ctx,
            seen: HashSet::new(),
        };
        recorder.catch_up().await;
        recorder.run(events).await;
    })
}

struct Recorder {
    ctx: Ctx,
    /// Dedup keys known to be stored already.
    seen: HashSet<String>,
}

impl Recorder {
    async fn run(&mut self, mut events: tokio::sync::broadcast::Receiver<Event>) {
        loop {
            match events.recv().await {
                Ok(event) => self.on_event(&event).await,
                Err(RecvError::Lagged(skipped)) => {
                    tracing::warn!(
                        skipped,
                        "the cluster history fell behind the event bus; catching up"
                    );
                    self.catch_up().await;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn on_event(&mut self, event: &Event) {
        match event {
            Event::NodeJoined { node } | Event::NodeStatus { node } | Event::NodeRemoved { node } => {
                let last = match self.ctx.store.last_cluster_event_kind(&node.id).await {
                    Ok(last) => last,
                    Err(error) => {
                        tracing::error!(%error, "cannot read the cluster history");
                        return;
                    }
                };
                if let Some(line) = node_line(event, last, now_millis()) {
                    self.record(line).await;
                }
            }
            Event::RolloutUpdated { rollout } => self.on_rollout(rollout).await,
            _ => {}
        }
    }

    async fn on_rollout(&mut self, rollout: &Rollout) {
        let wants_image = rollout_lines(rollout, None)
            .iter()
            .any(|line| line.kind == ClusterEventKind::WebhookDeploy && self.fresh(line));
        let image = if wants_image {
            match self
                .ctx
                .store
                .revision(&rollout.service_id, rollout.to_revision)
                .await
            {
                Ok(revision) => revision.map(|r| r.spec.image),
                Err(error) => {
                    tracing::warn!(%error, "cannot read the revision a webhook deployed");
                    None
                }
            }
        } else {
            None
        };
        for line in rollout_lines(rollout, image.as_deref()) {
            if self.fresh(&line) {
                self.record(line).await;
            }
        }
    }

    /// Whether the line may be new: it has no key, or its key is not known
    /// to be stored.
    fn fresh(&self, line: &NewClusterEvent) -> bool {
        line.dedup_key.as_ref().is_none_or(|key| !self.seen.contains(key))
    }

    async fn record(&mut self, line: NewClusterEvent) {
        match self.ctx.store.record_cluster_event(&line).await {
            Ok(stored) => {
                if let Some(key) = line.dedup_key {
                    if self.seen.len() >= SEEN_MAX {
                        self.seen.clear();
                    }
                    self.seen.insert(key);
                }
                if let Some(event) = stored {
                    Changes::new().history(event).tell(&self.ctx).await;
                }
            }
            Err(error) => tracing::error!(%error, kind = line.kind.as_str(), "cannot record a cluster event"),
        }
    }

    /// Brings the history up to date from the stored state: nodes whose
    /// status moved and rollouts that started or ended meanwhile.
    async fn catch_up(&mut self) {
        match crate::views::nodes(&self.ctx).await {
            Ok(nodes) => {
                for node in nodes {
                    self.on_event(&Event::NodeStatus { node }).await;
                }
            }
            Err(error) => tracing::error!(%error, "cannot list nodes to catch up the cluster history"),
        }
        match self.ctx.store.recent_rollouts(CATCH_UP_ROLLOUTS).await {
            Ok(mut rollouts) => {
                // Oldest first, so the lines keep their order.
                rollouts.reverse();
                for rollout in rollouts {
                    self.on_rollout(&rollout).await;
                }
            }
            Err(error) => tracing::error!(%error, "cannot list rollouts to catch up the cluster history"),
        }
    }
}

/// The line a node event deserves, given the kind of the newest line kept
/// about that node: `down` once per outage, `ready` only after a `down`.
pub fn node_line(event: &Event, last: Option<ClusterEventKind>, now: Millis) -> Option<NewClusterEvent> {
    let line = |node: &Node, kind: ClusterEventKind, message: String, key: Option<String>| NewClusterEvent {
        at: now,
        kind,
        subject_id: node.id.clone(),
        subject_name: node.hostname.clone(),
        message,
        dedup_key: key,
    };
    match event {
        Event::NodeJoined { node } => Some(line(
            node,
            ClusterEventKind::NodeJoined,
            format!(
                "node {} joined as a {} ({}, {} CPU)",
                node.hostname, node.role, node.address, node.resources.cpus
            ),
            Some(format!("node:{}:joined", node.id)),
        )),
        Event::NodeStatus { node } => match (node.status, last) {
            (NodeStatus::Down, last) if last != Some(ClusterEventKind::NodeDown) => Some(line(
                node,
                ClusterEventKind::NodeDown,
                format!(
                    "node {} is down: its agent stopped sending heartbeats",
                    node.hostname
                ),
                None,
            )),
            (NodeStatus::Ready, Some(ClusterEventKind::NodeDown)) => Some(line(
                node,
                ClusterEventKind::NodeReady,
                format!("node {} is ready again", node.hostname),
                None,
            )),
            _ => None,
        },
        Event::NodeRemoved { node } => Some(line(
            node,
            ClusterEventKind::NodeRemoved,
            format!("node {} was removed from the cluster", node.hostname),
            Some(format!("node:{}:removed", node.id)),
        )),
        _ => None,
    }
}

/// Every line a rollout in its current state has earned so far: its start,
/// its turning back, its end. Each has a key, so the caller may offer all
/// of them every time. `image` names what a webhook deployed.
pub fn rollout_lines(rollout: &Rollout, image: Option<&str>) -> Vec<NewClusterEvent> {
    let line = |kind: ClusterEventKind, at: Millis, what: &str, message: String| NewClusterEvent {
        at,
        kind,
        subject_id: rollout.service_id.clone(),
        subject_name: rollout.service_name.clone(),
        message,
        dedup_key: Some(format!("rollout:{}:{what}", rollout.id)),
    };
    let service = &rollout.service_name;
    let because = |reason: &Option<String>| {
        reason
            .as_deref()
            .filter(|reason| !reason.is_empty())
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default()
    };
    let requested_rollback = rollout.trigger == "rollback";
    let mut lines = Vec::new();
    let start = if rollout.trigger.starts_with("webhook") {
        let image = image.map(|image| format!("{image} as ")).unwrap_or_default();
        line(
            ClusterEventKind::WebhookDeploy,
            rollout.started_at,
            "started",
            format!(
                "{} deployed {image}revision {} of {service}",
                rollout.actor, rollout.to_revision
            ),
        )
    } else if requested_rollback {
        line(
            ClusterEventKind::RolloutStarted,
            rollout.started_at,
            "started",
            match rollout.reason.as_deref().filter(|reason| !reason.is_empty()) {
                Some(reason) => format!("{service}: {reason} (as revision {})", rollout.to_revision),
                None => format!(
                    "{} started a rollback of {service} (as revision {})",
                    rollout.actor, rollout.to_revision
                ),
            },
        )
    } else {
        line(
            ClusterEventKind::RolloutStarted,
            rollout.started_at,
            "started",
            format!(
                "{} started rolling out revision {} of {service} (from {})",
                rollout.actor, rollout.to_revision, rollout.from_revision
            ),
        )
    };
    lines.push(start);
    if rollout.state.is_rollback() && !requested_rollback {
        lines.push(line(
            ClusterEventKind::RolloutRollingBack,
            rollout.phase_started_at,
            "rollback",
            format!(
                "{service} is rolling back to revision {}{}",
                rollout.from_revision,
                because(&rollout.reason)
            ),
        ));
    }
    if let Some(ended) = rollout.ended_at.filter(|_| !rollout.state.is_active()) {
        let message = match rollout.state {
            RolloutState::Completed => format!(
                "revision {} of {service} is rolled out ({} of {} tasks replaced)",
                rollout.to_revision, rollout.updated, rollout.total
            ),
            RolloutState::RollbackCompleted if requested_rollback => {
                format!(
                    "{service} finished rolling back (revision {})",
                    rollout.to_revision
                )
            }
            RolloutState::RollbackCompleted => format!(
                "{service} rolled back to revision {}{}",
                rollout.from_revision,
                because(&rollout.reason)
            ),
            RolloutState::Failed => format!(
                "the rollout of revision {} of {service} failed{}",
                rollout.to_revision,
                because(&rollout.reason)
            ),
            RolloutState::Superseded => format!(
                "the rollout of revision {} of {service} was superseded{}",
                rollout.to_revision,
                because(&rollout.reason)
            ),
            // Not ended; filtered out above.
            _ => return lines,
        };
        lines.push(line(ClusterEventKind::RolloutEnded, ended, "ended", message));
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shoal_proto::{
        node::{Availability, NodeRole, Platform, Resources},
        service::UpdateOrder,
    };

    use super::*;

    fn node(status: NodeStatus) -> Node {
        Node {
            id: "n1".into(),
            hostname: "node-1".into(),
            role: NodeRole::Worker,
            availability: Availability::Active,
            labels: BTreeMap::new(),
            engine_labels: BTreeMap::new(),
            status,
            address: "10.0.0.1".into(),
            platform: Platform::default(),
            resources: Resources {
                cpus: 2,
                memory_bytes: 1 << 30,
            },
            engine_version: String::new(),
            agent_version: String::new(),
            last_heartbeat_at: None,
            joined_at: 0,
        }
    }

    fn rollout(state: RolloutState, trigger: &str, actor: &str) -> Rollout {
        Rollout {
            id: "r1".into(),
            service_id: "s1".into(),
            service_name: "web".into(),
            from_revision: 1,
            to_revision: 2,
            rollback_revision: None,
            state,
            reason: None,
            trigger: trigger.into(),
            actor: actor.into(),
            total: 3,
            updated: 0,
            failed: 0,
            parallelism: 1,
            order: UpdateOrder::StopFirst,
            started_at: 100,
            phase_started_at: 100,
            updated_at: 100,
            ended_at: None,
        }
    }

    fn kinds(lines: &[NewClusterEvent]) -> Vec<ClusterEventKind> {
        lines.iter().map(|line| line.kind).collect()
    }

    #[test]
    fn a_node_going_down_is_recorded_once_per_outage() {
        let down = Event::NodeStatus {
            node: node(NodeStatus::Down),
        };
        let line = node_line(&down, Some(ClusterEventKind::NodeJoined), 5).unwrap();
        assert_eq!(line.kind, ClusterEventKind::NodeDown);
        assert_eq!(line.subject_name, "node-1");
        assert!(line.message.contains("node-1 is down"), "{}", line.message);
        assert_eq!(node_line(&down, Some(ClusterEventKind::NodeDown), 6), None);
    }

    #[test]
    fn a_node_is_ready_again_only_after_it_was_down() {
        let ready = Event::NodeStatus {
            node: node(NodeStatus::Ready),
        };
        let line = node_line(&ready, Some(ClusterEventKind::NodeDown), 5).unwrap();
        assert_eq!(line.kind, ClusterEventKind::NodeReady);
        // A server restart brings every node back from unknown: not news.
        assert_eq!(node_line(&ready, Some(ClusterEventKind::NodeJoined), 5), None);
        assert_eq!(node_line(&ready, None, 5), None);
        let unknown = Event::NodeStatus {
            node: node(NodeStatus::Unknown),
        };
        assert_eq!(node_line(&unknown, Some(ClusterEventKind::NodeDown), 5), None);
    }

    #[test]
    fn joining_and_removal_are_recorded_with_a_key() {
        let joined = node_line(
            &Event::NodeJoined {
                node: node(NodeStatus::Ready),
            },
            None,
            1,
        )
        .unwrap();
        assert_eq!(joined.dedup_key.as_deref(), Some("node:n1:joined"));
        let removed = node_line(
            &Event::NodeRemoved {
                node: node(NodeStatus::Down),
            },
            Some(ClusterEventKind::NodeDown),
            2,
        )
        .unwrap();
        assert_eq!(removed.kind, ClusterEventKind::NodeRemoved);
    }

    #[test]
    fn a_started_rollout_earns_one_line_about_who_started_it() {
        let lines = rollout_lines(&rollout(RolloutState::Updating, "update", "ada"), None);
        assert_eq!(kinds(&lines), [ClusterEventKind::RolloutStarted]);
        assert_eq!(
            lines[0].message,
            "ada started rolling out revision 2 of web (from 1)"
        );
        assert_eq!(lines[0].dedup_key.as_deref(), Some("rollout:r1:started"));
        assert_eq!(lines[0].at, 100);
        assert_eq!(lines[0].subject_id, "s1");
    }

    #[test]
    fn a_rollout_from_a_webhook_is_a_webhook_deploy_naming_the_image() {
        let lines = rollout_lines(
            &rollout(RolloutState::Updating, "webhook", "webhook registry"),
            Some("demo:v2"),
        );
        assert_eq!(kinds(&lines), [ClusterEventKind::WebhookDeploy]);
        assert_eq!(
            lines[0].message,
            "webhook registry deployed demo:v2 as revision 2 of web"
        );
    }

    #[test]
    fn an_automatic_rollback_records_the_turn_and_the_end_with_the_reason() {
        let mut turned = rollout(RolloutState::RollbackCompleted, "update", "ada");
        turned.reason = Some("2 of 3 new tasks failed".into());
        turned.phase_started_at = 150;
        turned.ended_at = Some(200);
        let lines = rollout_lines(&turned, None);
        assert_eq!(
            kinds(&lines),
            [
                ClusterEventKind::RolloutStarted,
                ClusterEventKind::RolloutRollingBack,
                ClusterEventKind::RolloutEnded
            ]
        );
        assert_eq!(lines[1].at, 150);
        assert_eq!(lines[2].at, 200);
        assert_eq!(
            lines[2].message,
            "web rolled back to revision 1: 2 of 3 new tasks failed"
        );
        assert_eq!(lines[2].dedup_key.as_deref(), Some("rollout:r1:ended"));
    }

    #[test]
    fn a_completed_rollout_says_how_many_tasks_it_replaced() {
        let mut done = rollout(RolloutState::Completed, "update", "ada");
        done.updated = 3;
        done.ended_at = Some(300);
        let lines = rollout_lines(&done, None);
        assert_eq!(
            lines.last().unwrap().message,
            "revision 2 of web is rolled out (3 of 3 tasks replaced)"
        );
    }

    #[test]
    fn a_paused_rollout_has_not_ended() {
        let mut paused = rollout(RolloutState::Paused, "update", "ada");
        paused.reason = Some("task failed".into());
        assert_eq!(
            kinds(&rollout_lines(&paused, None)),
            [ClusterEventKind::RolloutStarted]
        );
    }
}
