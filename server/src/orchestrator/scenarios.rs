//! Whole scenarios played through reconcile and the updater on a
//! `testkit::World`: services filling and keeping their slots, nodes
//! coming and going, rollouts that complete, pause, fail and roll back.

use std::collections::BTreeMap;

use serde_json::json;
use shoal_proto::{
    node::{Availability, NodeRole, NodeStatus},
    service::{RolloutState, Task, TaskState},
};

use super::{
    reconcile::{HISTORY_PER_SLOT, Plan},
    testkit::{World, node, workers},
};

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn replicated_service_fills_its_slots_spread_over_workers() {
    let mut nodes = workers(3);
    nodes.push(node("m1", NodeRole::Manager));
    let mut world = World::new(
        json!({"name": "web", "image": "x", "replicas": 6, "constraints": ["node.role!=manager"]}),
        nodes,
    );
    world.settle();
    assert_eq!(world.slots(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(world.per_node(), counts(&[("w1", 2), ("w2", 2), ("w3", 2)]));
    // A settled service needs nothing more.
    assert_eq!(world.pass(), Plan::default());
}

#[test]
fn scaling_adds_slots_and_removes_the_highest() {
    let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 6}), workers(3));
    world.settle();
    world.spec.replicas = Some(9);
    world.settle();
    assert_eq!(world.slots(), (1..=9).collect::<Vec<_>>());
    world.spec.replicas = Some(2);
    world.settle();
    assert_eq!(world.slots(), [1, 2]);
    let stopped = world
        .tasks
        .iter()
        .filter(|r| r.task.state == TaskState::Shutdown)
        .count();
    assert_eq!(stopped, 7);
}

#[test]
fn a_drained_node_loses_its_tasks_to_the_others() {
    let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 6}), workers(3));
    world.settle();
    world.nodes[0].availability = Availability::Drain;
    world.settle();
    assert_eq!(world.per_node(), counts(&[("w2", 3), ("w3", 3)]));
    assert_eq!(world.slots(), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn tasks_move_off_a_node_only_once_it_is_lost() {
    let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 4}), workers(2));
    world.settle();
    world.nodes[0].status = NodeStatus::Down;
    assert!(world.pass().writes.is_empty(), "a node just down keeps its tasks");
    world.lost.insert("w1".into());
    world.pass();
    assert_eq!(world.per_node(), counts(&[("w2", 4)]));
}

#[test]
fn a_removed_nodes_tasks_are_orphaned_and_replaced() {
    let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 2}), workers(2));
    world.settle();
    world.nodes.remove(0);
    world.settle();
    assert_eq!(world.per_node(), counts(&[("w2", 2)]));
    assert_eq!(
        world
            .tasks
            .iter()
            .filter(|r| r.task.state == TaskState::Orphaned)
            .count(),
        1
    );
}

#[test]
fn a_failed_task_is_replaced_after_the_restart_delay() {
    let mut world = World::new(
        json!({"name": "web", "image": "x", "restart_policy": {"delay": "5s"}}),
        workers(1),
    );
    world.settle();
    world.tasks[0].task.state = TaskState::Failed;
    world.tasks[0].task.updated_at = world.now;
    let plan = world.pass();
    assert!(plan.writes.is_empty());
    assert_eq!(plan.wake_at, Some(world.now + 5000));
    world.now += 5000;
    world.pass();
    assert_eq!(world.live().len(), 1);
    assert_eq!(world.live()[0].slot, Some(1));
}

#[test]
fn restart_policy_conditions_and_attempts_are_honoured() {
    let mut world = World::new(
        json!({"name": "job", "image": "x", "restart_policy": {"condition": "on-failure", "delay": "0s", "max_attempts": 2}}),
        workers(1),
    );
    world.settle();
    // Two failures use up the attempts; the slot then stays empty.
    for _ in 0..2 {
        let live = world.live()[0].id.clone();
        let record = world.tasks.iter_mut().find(|r| r.task.id == live).unwrap();
        record.task.state = TaskState::Failed;
        world.settle();
    }
    assert!(world.live().is_empty());
    assert_eq!(world.pass().wake_at, None);

    let mut world = World::new(
        json!({"name": "job", "image": "x", "restart_policy": {"condition": "on-failure", "delay": "0s"}}),
        workers(1),
    );
    world.settle();
    world.tasks[0].task.state = TaskState::Complete;
    world.settle();
    assert!(
        world.live().is_empty(),
        "a completed task is not restarted on-failure"
    );
}

#[test]
fn an_impossible_constraint_leaves_tasks_pending_with_the_reason() {
    let mut world = World::new(
        json!({"name": "web", "image": "x", "replicas": 2, "constraints": ["node.labels.zone==z"]}),
        workers(3),
    );
    world.settle();
    let pending: Vec<&Task> = world
        .live()
        .into_iter()
        .filter(|t| t.state == TaskState::Pending)
        .collect();
    assert_eq!(pending.len(), 2);
    assert_eq!(
        pending[0].message,
        "no suitable node: constraint node.labels.zone==z: 0 of 3 ready nodes match"
    );
    // A node that gains the label takes them.
    world.nodes[1].labels.insert("zone".into(), "z".into());
    world.settle();
    assert_eq!(world.per_node(), counts(&[("w2", 2)]));
}

#[test]
fn a_global_service_runs_once_per_eligible_node_including_new_ones() {
    let mut nodes = workers(2);
    nodes.push(node("m1", NodeRole::Manager));
    let mut world = World::new(
        json!({"name": "agent", "image": "x", "mode": "global", "constraints": ["node.role==worker"]}),
        nodes,
    );
    world.settle();
    assert_eq!(world.per_node(), counts(&[("w1", 1), ("w2", 1)]));
    world.nodes.push(node("w3", NodeRole::Worker));
    world.settle();
    assert_eq!(world.per_node(), counts(&[("w1", 1), ("w2", 1), ("w3", 1)]));
    world.nodes[0].availability = Availability::Drain;
    world.settle();
    assert_eq!(world.per_node(), counts(&[("w2", 1), ("w3", 1)]));
}

#[test]
fn a_new_revision_is_rolled_out_and_scaling_replaces_nothing() {
    let mut world = World::new(json!({"name": "web", "image": "x:1", "replicas": 3}), workers(3));
    world.settle();
    world.change(|spec| spec.replicas = Some(4));
    assert!(world.rollout.is_none(), "scaling is not a rollout");
    world.settle();
    assert_eq!(world.images(), BTreeMap::from([("x:1".to_owned(), 4)]));
    world.change(|spec| spec.image = "x:2".into());
    world.settle();
    assert_eq!(world.state(), Some(RolloutState::Completed));
    assert_eq!(world.images(), BTreeMap::from([("x:2".to_owned(), 4)]));
    assert_eq!(world.slots(), [1, 2, 3, 4]);
}

fn six_replicas(update: serde_json::Value) -> World {
    let mut world = World::new(
        json!({"name": "web", "image": "v1", "replicas": 6, "update_config": update}),
        workers(3),
    );
    world.settle();
    world
}

#[test]
fn stop_first_keeps_at_most_parallelism_slots_down() {
    let mut world = six_replicas(json!({"parallelism": 2, "monitor": "2s"}));
    world.change(|spec| spec.image = "v2".into());
    world.settle_checking(|w| assert!(w.serving() >= 4, "{} serving", w.serving()));
    assert_eq!(world.state(), Some(RolloutState::Completed));
    assert_eq!(world.images(), BTreeMap::from([("v2".to_owned(), 6)]));
}

#[test]
fn start_first_never_drops_below_the_desired_count() {
    let mut world = six_replicas(json!({"parallelism": 2, "order": "start-first", "monitor": "2s"}));
    world.change(|spec| spec.image = "v2".into());
    world.settle_checking(|w| assert!(w.serving() >= 6, "{} serving", w.serving()));
    assert_eq!(world.state(), Some(RolloutState::Completed));
    assert_eq!(world.images(), BTreeMap::from([("v2".to_owned(), 6)]));
}

#[test]
fn a_task_must_last_the_monitor_window_before_the_next_batch() {
    let mut world = six_replicas(json!({"parallelism": 3, "monitor": "10s"}));
    world.change(|spec| spec.image = "v2".into());
    // First batch: three old tasks stop, their slots refill with v2.
    for _ in 0..4 {
        world.pass();
        world.nodes_report();
        world.now += 1000;
    }
    assert_eq!(
        world.images(),
        BTreeMap::from([("v1".to_owned(), 3), ("v2".to_owned(), 3)])
    );
    // Nothing more moves until the new tasks have run for 10 s.
    for _ in 0..5 {
        world.pass();
        world.nodes_report();
        world.now += 1000;
        assert_eq!(world.images()["v1"], 3);
    }
    world.settle();
    assert_eq!(world.images(), BTreeMap::from([("v2".to_owned(), 6)]));
}

#[test]
fn a_bad_version_pauses_with_the_reason() {
    let mut world = six_replicas(json!({"parallelism": 2, "monitor": "5s"}));
    world.change(|spec| spec.image = "bad".into());
    world.settle();
    assert_eq!(world.state(), Some(RolloutState::Paused));
    let reason = world.rollout.as_ref().unwrap().reason.clone().unwrap();
    assert!(
        reason.contains("turned unhealthy") && reason.contains("max_failure_ratio 0"),
        "{reason}"
    );
    assert_eq!(world.images()["v1"], 4, "no batch after the failing one");
}

#[test]
fn a_bad_version_rolls_back_to_where_it_started() {
    let mut world = six_replicas(json!({"parallelism": 2, "failure_action": "rollback"}));
    world.change(|spec| spec.image = "bad".into());
    world.settle();
    assert_eq!(world.state(), Some(RolloutState::RollbackCompleted));
    assert_eq!(world.images(), BTreeMap::from([("v1".to_owned(), 6)]));
    assert_eq!(
        world.revision, 3,
        "the rollback is a new revision equal to the first"
    );
}

#[test]
fn max_failure_ratio_tolerates_some_failures() {
    let mut world =
        six_replicas(json!({"parallelism": 6, "max_failure_ratio": 0.5, "failure_action": "pause"}));
    // Half the new tasks fail at once: at the ratio, not above it.
    world.change(|spec| spec.image = "v2".into());
    world.pass();
    world.nodes_report();
    world.pass();
    let v2: Vec<String> = world
        .live()
        .iter()
        .filter(|t| t.revision == 2)
        .map(|t| t.id.clone())
        .collect();
    for id in v2.iter().take(3) {
        let record = world.tasks.iter_mut().find(|r| &r.task.id == id).unwrap();
        record.task.state = TaskState::Failed;
    }
    world.settle();
    assert_eq!(world.state(), Some(RolloutState::Completed));
    assert_eq!(world.failures.len(), 3);
}

#[test]
fn the_progress_deadline_ends_a_rollout_that_never_gets_healthy() {
    let mut world =
        six_replicas(json!({"parallelism": 6, "progress_deadline": "30s", "failure_action": "continue"}));
    world.change(|spec| spec.image = "v2".into());
    world.pass();
    // The new tasks start and stay "starting" for ever.
    world.now += 31_000;
    world.pass();
    assert_eq!(world.state(), Some(RolloutState::Failed));
    let reason = world.rollout.as_ref().unwrap().reason.clone().unwrap();
    assert!(reason.contains("progress deadline of 30s"), "{reason}");
}

#[test]
fn a_newer_change_takes_over_from_a_running_rollout() {
    let mut world = six_replicas(json!({"parallelism": 1, "monitor": "1s"}));
    world.change(|spec| spec.image = "v2".into());
    for _ in 0..3 {
        world.pass();
        world.nodes_report();
        world.now += 1000;
    }
    assert!(world.images().contains_key("v2"));
    // Superseded: the new rollout replaces v1 and v2 tasks alike.
    world.change(|spec| spec.image = "v3".into());
    world.settle();
    assert_eq!(world.state(), Some(RolloutState::Completed));
    assert_eq!(world.images(), BTreeMap::from([("v3".to_owned(), 6)]));
}

#[test]
fn two_live_tasks_in_one_slot_keep_the_newest() {
    let mut world = World::new(json!({"name": "web", "image": "x"}), workers(1));
    world.settle();
    let mut twin = world.tasks[0].clone();
    twin.task.id = "twin".into();
    twin.task.created_at += 1;
    world.tasks.push(twin);
    world.settle();
    assert_eq!(world.live().len(), 1);
    assert_eq!(world.live()[0].id, "twin");
}

#[test]
fn history_is_trimmed_per_slot() {
    let mut world = World::new(
        json!({"name": "web", "image": "x", "restart_policy": {"delay": "0s"}}),
        workers(1),
    );
    world.settle();
    for _ in 0..8 {
        let live = world.live()[0].id.clone();
        world
            .tasks
            .iter_mut()
            .find(|r| r.task.id == live)
            .unwrap()
            .task
            .state = TaskState::Failed;
        world.now += 1;
        world.settle();
    }
    let ended = world.tasks.iter().filter(|r| r.task.state.is_terminal()).count();
    assert_eq!(ended, HISTORY_PER_SLOT);
}

#[test]
fn a_deleted_service_stops_everything_then_is_purged() {
    let mut world = World::new(json!({"name": "web", "image": "x", "replicas": 2}), workers(2));
    world.settle();
    world.deleted = true;
    let plan = world.pass();
    assert!(!plan.purge, "tasks are still stopping");
    world.nodes_report();
    assert!(world.pass().purge);
}
