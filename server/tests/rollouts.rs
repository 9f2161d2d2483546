//! Rolling updates on the real Docker engine: three workers, the demo
//! images (`:bad` turns unhealthy about 4 s after it starts), and what
//! Docker runs watched while the server replaces tasks.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::{
    cluster::{Cluster, web},
    docker::docker,
    watch::{ContainerWatch, Sample},
};
use serde_json::json;
use shoal_proto::service::{Revision, Rollout, RolloutState, Task};

/// One test at a time: they count containers and judge timing on one engine.
static ENGINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn every_slot(replicas: u64, version: &str) -> BTreeMap<u64, String> {
    (1..=replicas).map(|slot| (slot, version.to_owned())).collect()
}

fn ended(rollout: &Rollout) -> bool {
    !rollout.state.is_active()
}

fn of_revision(tasks: &[Task], revision: u64) -> Vec<&Task> {
    tasks.iter().filter(|t| t.revision == revision).collect()
}

/// The sample with the fewest healthy containers.
fn fewest_healthy(samples: &[(Duration, Sample)]) -> &(Duration, Sample) {
    samples
        .iter()
        .min_by_key(|(_, sample)| sample.healthy)
        .expect("the watch sampled")
}

#[tokio::test]
async fn stop_first_keeps_at_most_parallelism_slots_down_and_start_first_none() {
    let _engine = ENGINE.lock().await;
    let stop_first = json!({ "parallelism": 2, "monitor": "2s" });
    let (cluster, service) = Cluster::running(web(6, "v1", stop_first.clone())).await;

    let watch = ContainerWatch::start(&service.id);
    cluster.put(&service, web(6, "v2", stop_first)).await;
    let rollout = cluster.rollout_until(&service, "the rollout to v2", ended).await;
    let samples = watch.stop();
    assert_eq!(
        (rollout.state, rollout.to_revision),
        (RolloutState::Completed, 2),
        "{:#?}",
        cluster.rollout(&rollout.id).await
    );
    let (at, fewest) = fewest_healthy(&samples);
    assert!(
        fewest.healthy >= 4,
        "{} healthy at {at:?}: more than 2 slots down",
        fewest.healthy
    );
    // Stop-first must take slots down; a watch that never saw it proves nothing.
    assert!(fewest.healthy < 6, "the watch missed the rollout: {samples:?}");
    for (at, sample) in &samples {
        assert!(
            sample.running.values().all(|&n| n == 1),
            "two containers in one slot at {at:?}: {sample:?}"
        );
    }
    assert_eq!(cluster.versions(&service).await, every_slot(6, "v2"));

    // Back to v1, starting each new task before its old one stops.
    let start_first = json!({ "parallelism": 2, "monitor": "2s", "order": "start-first" });
    let watch = ContainerWatch::start(&service.id);
    cluster.put(&service, web(6, "v1", start_first)).await;
    let rollout = cluster
        .rollout_until(&service, "the rollout back to v1", |r| {
            r.to_revision == 3 && ended(r)
        })
        .await;
    let samples = watch.stop();
    assert_eq!(
        rollout.state,
        RolloutState::Completed,
        "{:#?}",
        cluster.rollout(&rollout.id).await
    );
    let (at, fewest) = fewest_healthy(&samples);
    assert!(fewest.healthy >= 6, "only {} healthy at {at:?}", fewest.healthy);
    let most = samples.iter().map(|(_, s)| s.running_total()).max().unwrap();
    assert!(most > 6, "start-first never ran a new task beside its old one");
    assert_eq!(cluster.versions(&service).await, every_slot(6, "v1"));
}

#[tokio::test]
async fn a_failing_version_rolls_back_to_the_revision_it_started_from() {
    let _engine = ENGINE.lock().await;
    let update = json!({ "parallelism": 2, "monitor": "2s", "failure_action": "rollback" });
    let (cluster, service) = Cluster::running(web(6, "v1", update.clone())).await;

    cluster.put(&service, web(6, "bad", update)).await;
    let rollout = cluster.rollout_until(&service, "the rollback", ended).await;
    let detail = cluster.rollout(&rollout.id).await;
    assert_eq!(rollout.state, RolloutState::RollbackCompleted, "{detail:#?}");
    assert_eq!(rollout.rollback_revision, Some(3), "{detail:#?}");

    // The rollback is a new revision with the first one's spec.
    let revisions: Vec<Revision> = cluster
        .get(&format!("/api/v1/services/{}/revisions", service.id))
        .await;
    let numbers: Vec<u64> = revisions.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(revisions[0].spec, revisions[2].spec);
    assert_eq!(revisions[1].spec.image, "shoal-demo:bad");

    assert_eq!(cluster.versions(&service).await, every_slot(6, "v1"));
    // Only the first batch ever ran the bad version.
    let tasks = cluster.tasks(&service).await;
    assert_eq!(of_revision(&tasks, 2).len(), 2, "{tasks:#?}");
    // Rolled back, the rollout still says why.
    let reason = rollout.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("turned unhealthy") && reason.contains("max_failure_ratio 0"),
        "the reason should name the failure: {detail:#?}"
    );
}

#[tokio::test]
async fn a_failing_version_pauses_with_the_reason_and_goes_no_further() {
    let _engine = ENGINE.lock().await;
    let update = json!({ "parallelism": 2, "monitor": "2s", "failure_action": "pause" });
    let (cluster, service) = Cluster::running(web(4, "v1", update.clone())).await;

    cluster.put(&service, web(4, "bad", update)).await;
    let rollout = cluster
        .rollout_until(&service, "the pause", |r| r.state != RolloutState::Updating)
        .await;
    let detail = cluster.rollout(&rollout.id).await;
    assert_eq!(rollout.state, RolloutState::Paused, "{detail:#?}");
    let reason = rollout.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("turned unhealthy") && reason.contains("max_failure_ratio 0"),
        "{detail:#?}"
    );

    // Long enough for another batch to have started and failed.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rollout = cluster.rollout(&rollout.id).await.rollout;
    assert_eq!(rollout.state, RolloutState::Paused);
    let tasks = cluster.tasks(&service).await;
    assert_eq!(of_revision(&tasks, 2).len(), 2, "{tasks:#?}");
    let live = cluster.live(&service).await;
    assert_eq!(of_revision(&live, 1).len(), 2, "{live:#?}");
}

#[tokio::test]
async fn a_paused_rollout_stands_still_until_resumed() {
    let _engine = ENGINE.lock().await;
    let update = json!({ "parallelism": 1, "monitor": "3s" });
    let (cluster, service) = Cluster::running(web(4, "v1", update.clone())).await;

    cluster.put(&service, web(4, "v2", update)).await;
    let rollout = cluster
        .rollout_until(&service, "the first batch", |r| r.state == RolloutState::Updating)
        .await;
    while of_revision(&cluster.live(&service).await, 2).is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let paused = cluster.steer(&rollout, "pause").await;
    assert_eq!(paused.state, RolloutState::Paused);
    // The batch in flight finishes.
    cluster.until_healthy(&service, 4).await;
    let before: Vec<String> = of_revision(&cluster.tasks(&service).await, 2)
        .iter()
        .map(|t| t.id.clone())
        .collect();

    // Unpaused, the next batch would have started within the health check's
    // 2 s and the 3 s monitor window.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let tasks = cluster.tasks(&service).await;
    let after: Vec<String> = of_revision(&tasks, 2).iter().map(|t| t.id.clone()).collect();
    assert_eq!(after, before, "a task of v2 started while paused: {tasks:#?}");
    let detail = cluster.rollout(&rollout.id).await;
    assert_eq!(detail.rollout.state, RolloutState::Paused);
    let since_pause: Vec<&str> = detail
        .timeline
        .iter()
        .map(|event| event.message.as_str())
        .skip_while(|message| !message.starts_with("paused by"))
        .collect();
    assert!(
        since_pause.len() == 1,
        "the timeline moved while paused: {detail:#?}"
    );

    let resumed = cluster.steer(&rollout, "resume").await;
    assert_eq!(resumed.state, RolloutState::Updating);
    cluster
        .rollout_completes(&service, "the resumed rollout", |_| true)
        .await;
    assert_eq!(cluster.versions(&service).await, every_slot(4, "v2"));
}

#[tokio::test]
async fn a_rollout_that_never_gets_healthy_fails_at_its_progress_deadline() {
    let _engine = ENGINE.lock().await;
    let update = json!({
        "parallelism": 1,
        "monitor": "2s",
        "progress_deadline": "10s",
        "failure_action": "pause",
    });
    let (cluster, service) = Cluster::running(web(3, "v1", update.clone())).await;

    // A check that always fails, within a start period that keeps Docker
    // calling it "starting" rather than unhealthy: no failure to act on,
    // only no progress.
    let mut spec = web(3, "v2", update);
    spec["healthcheck"] = json!({
        "test": ["CMD", "/shoal-demo", "check", "127.0.0.1:1"],
        "interval": "1s",
        "start_period": "10m",
    });
    cluster.put(&service, spec).await;
    let rollout = cluster.rollout_until(&service, "the deadline", ended).await;
    let detail = cluster.rollout(&rollout.id).await;
    // With failure_action pause, a deadline fails the rollout: pausing would
    // wait for a person without saying the time is up.
    assert_eq!(rollout.state, RolloutState::Failed, "{detail:#?}");
    let reason = rollout.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("not finished within the progress deadline of 10s: 0 of 3 tasks updated")
            && reason.contains("(slot 1): health check starting"),
        "{detail:#?}"
    );
    let took = rollout.ended_at.unwrap() - rollout.started_at;
    assert!(
        (10_000..15_000).contains(&took),
        "failed {took} ms after it started"
    );
    // It stopped where it was: the stuck slot keeps its new task, the others
    // the old version.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let versions = cluster.versions(&service).await;
    let expected: BTreeMap<u64, String> = [(1, "v2"), (2, "v1"), (3, "v1")]
        .into_iter()
        .map(|(slot, version)| (slot, version.to_owned()))
        .collect();
    assert_eq!(versions, expected);
}

#[tokio::test]
async fn a_server_killed_mid_rollout_finishes_it_after_a_restart_without_duplicates() {
    let _engine = ENGINE.lock().await;
    let mut cluster = Cluster::start_process().await;
    cluster.join_workers(3).await;
    let update = json!({ "parallelism": 2, "monitor": "2s" });
    let service = cluster.create(web(6, "v1", update.clone())).await;
    cluster.until_healthy(&service, 6).await;

    let watch = ContainerWatch::start(&service.id);
    cluster.put(&service, web(6, "v2", update)).await;
    // The first batch is through: the second one starts as the server dies.
    let rollout = cluster
        .rollout_until(&service, "the first batch", |r| r.updated >= 2)
        .await;
    assert_eq!(rollout.state, RolloutState::Updating);
    cluster.restart_server(Duration::from_secs(2)).await;
    let rollout = cluster.rollout_until(&service, "the rollout", ended).await;
    let samples = watch.stop();
    assert_eq!(
        rollout.state,
        RolloutState::Completed,
        "{:#?}\n{}",
        cluster.rollout(&rollout.id).await,
        cluster.server_log()
    );

    for (at, sample) in &samples {
        assert!(
            sample.running.values().all(|&n| n == 1),
            "two containers in one slot at {at:?}: {sample:?}"
        );
    }
    let tasks = cluster.tasks(&service).await;
    let live = cluster.live(&service).await;
    assert_eq!(live.len(), 6, "{live:#?}");
    for slot in 1..=6 {
        let new: Vec<&Task> = of_revision(&tasks, 2)
            .into_iter()
            .filter(|t| t.slot == Some(slot))
            .collect();
        assert_eq!(
            new.len(),
            1,
            "slot {slot} has {} tasks of v2: {tasks:#?}",
            new.len()
        );
        let running = docker(&[
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=shoal.service.id={}", service.id),
            "--filter",
            &format!("label=shoal.slot={slot}"),
        ])
        .unwrap();
        assert_eq!(
            Some(running.as_str()),
            new[0].container_id.as_deref(),
            "slot {slot}: the running containers are not its task's"
        );
    }
    assert_eq!(cluster.versions(&service).await, every_slot(6, "v2"));
}
