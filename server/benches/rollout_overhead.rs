//! What a rollout costs beyond what it has to wait for: its wall time minus
//! the time the containers took to stop, be created, start and pass their
//! health check, minus the monitor windows (and delays) the update config
//! asks for. What is left is the control plane's own: deciding, telling the
//! agents, hearing back.
//!
//! `cargo bench -p shoal-server --bench rollout_overhead` needs the local
//! Docker engine and the demo images (built when missing). An in-process
//! server and three `shoal-agent` workers roll 10 replicas of shoal-demo
//! from v1 to v2 with parallelism 1, then back to v1 with parallelism 5;
//! stop-first, monitor 1s, delay 0s. The images' health check runs every
//! 2 s, so a new container is healthy about 2 s after it starts.
//!
//! Per batch, on the path of the slot whose new container became healthy
//! last (the batch cannot end before it). Times come from the rollout's
//! timeline (when the batch started, when the rollout ended), the new task
//! (when the server made it, and its `preparing` transition: the agent is
//! about to create the container) and Docker's events (`kill` and `die` of
//! the old container, `create` and `health_status: healthy` of the new one):
//!
//! | column | from → to | whose |
//! |---|---|---|
//! | to stop | batch starts → old container killed | Shoal: the agent hears of it |
//! | stop | killed → died | Docker |
//! | new task | old died → new task made | Shoal: the agent's report, the next decision |
//! | to node | new task made → agent creates its container | Shoal: the agent hears of it |
//! | create | agent creates → container created | Docker |
//! | start | created → healthy | Docker and the image's health check |
//! | monitor | the update config's window | asked for |
//! | to next | healthy + monitor → next batch (or the end) | Shoal: the health report, the next decision |
//!
//! Overhead is "to stop" + "new task" + "to node" + "to next": the batch's
//! time minus "stop", "create", "start" and "monitor".

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    collections::{BTreeMap, HashMap},
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use common::cluster::{Cluster, web};
use serde_json::{Value, json};
use shoal_proto::service::{Rollout, RolloutDetail, Service, TaskDetail, TaskState};

const REPLICAS: u64 = 10;
const MONITOR_MS: i64 = 1000;

/// When one container did what, in milliseconds since the epoch.
#[derive(Debug, Default)]
struct Lifetime {
    id: String,
    create: Option<i64>,
    kill: Option<i64>,
    die: Option<i64>,
    healthy: Option<i64>,
}

/// When the server made a task and when its agent began to create its
/// container, by container id.
type Made = HashMap<String, (i64, i64)>;

/// One batch's figures, in milliseconds.
struct Batch {
    slots: Vec<u64>,
    time: i64,
    to_stop: i64,
    stop: i64,
    new_task: i64,
    to_node: i64,
    create: i64,
    start: i64,
    to_next: i64,
}

impl Batch {
    fn overhead(&self) -> i64 {
        self.to_stop + self.new_task + self.to_node + self.to_next
    }

    fn containers(&self) -> i64 {
        self.stop + self.create + self.start
    }
}

#[tokio::main]
async fn main() {
    let update = |parallelism: u64| json!({ "parallelism": parallelism, "monitor": "1s", "delay": "0s" });
    let (cluster, service) = Cluster::running(web(REPLICAS, "v1", update(1))).await;
    for (parallelism, version) in [(1, "v2"), (5, "v1")] {
        let events = Events::start(&service);
        let rollout = roll(&cluster, &service, web(REPLICAS, version, update(parallelism))).await;
        let lifetimes = events.stop();
        let detail = cluster.rollout(&rollout.id).await;
        let made = made(&cluster, &service, rollout.to_revision).await;
        let batches = batches(&detail, &lifetimes, &made);
        report(parallelism, &rollout, &batches);
    }
}

/// Rolls `spec` out and waits for the rollout to complete.
async fn roll(cluster: &Cluster, service: &Service, spec: Value) -> Rollout {
    cluster.put(service, spec).await;
    cluster.rollout_completes(service, "the rollout", |_| true).await
}

/// When the server made each task of `revision` and when its agent began
/// to create the container.
async fn made(cluster: &Cluster, service: &Service, revision: u64) -> Made {
    let mut made = Made::new();
    for task in cluster.tasks(service).await {
        let Some(container) = task.container_id.filter(|_| task.revision == revision) else {
            continue;
        };
        let detail: TaskDetail = cluster.get(&format!("/api/v1/tasks/{}", task.id)).await;
        let preparing = detail
            .events
            .iter()
            .find(|event| event.state == TaskState::Preparing)
            .unwrap_or_else(|| panic!("task {} never prepared: {detail:#?}", task.id));
        made.insert(container, (task.created_at, preparing.at));
    }
    made
}

/// `docker events` about the service's containers, from now until stopped.
/// Streamed, because the engine keeps only its last 256 events for later
/// questions, and ten health checks every 2 s push the rollout's out.
struct Events {
    child: Child,
    lines: std::thread::JoinHandle<Vec<String>>,
}

impl Events {
    fn start(service: &Service) -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let mut child = Command::new("docker")
            .args([
                "events",
                "--since",
                &format!("{}.{:09}", now.as_secs(), now.subsec_nanos()),
            ])
            .args(["--filter", "type=container"])
            .args(["--filter", &format!("label=shoal.service.id={}", service.id)])
            .args([
                "--filter",
                "event=create",
                "--filter",
                "event=kill",
                "--filter",
                "event=die",
            ])
            .args(["--filter", "event=health_status", "--format", "{{json .}}"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker events runs");
        let stdout = child.stdout.take().unwrap();
        let lines =
            std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect());
        Self { child, lines }
    }

    /// The events so far, by slot and revision.
    fn stop(mut self) -> BTreeMap<(u64, u64), Lifetime> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut lifetimes: BTreeMap<(u64, u64), Lifetime> = BTreeMap::new();
        for line in self.lines.join().expect("the events reader ran") {
            let event: Value = serde_json::from_str(&line).expect("docker events writes JSON");
            let label =
                |key: &str| -> Option<u64> { event["Actor"]["Attributes"][key].as_str()?.parse().ok() };
            let (Some(slot), Some(revision)) = (label("shoal.slot"), label("shoal.revision")) else {
                continue;
            };
            let at = event["timeNano"].as_i64().expect("events have a time") / 1_000_000;
            let lifetime = lifetimes.entry((slot, revision)).or_default();
            lifetime.id = event["id"].as_str().unwrap_or_default().to_owned();
            let field = match event["Action"].as_str() {
                Some("create") => &mut lifetime.create,
                Some("kill") => &mut lifetime.kill,
                Some("die") => &mut lifetime.die,
                Some("health_status: healthy") => &mut lifetime.healthy,
                _ => continue,
            };
            // The first time counts: a second `kill` is the grace period's SIGKILL.
            field.get_or_insert(at);
        }
        lifetimes
    }
}

/// The batches from the rollout's timeline ("replacing 2 tasks (slot 1,
/// slot 2)") with their figures.
fn batches(detail: &RolloutDetail, lifetimes: &BTreeMap<(u64, u64), Lifetime>, made: &Made) -> Vec<Batch> {
    let rollout = &detail.rollout;
    let starts: Vec<(i64, Vec<u64>)> = detail
        .timeline
        .iter()
        .filter(|event| event.message.starts_with("replacing "))
        .map(|event| {
            let slots = event
                .message
                .split("slot ")
                .skip(1)
                .map(|rest| {
                    rest.trim_end_matches([',', ')', ' '])
                        .parse()
                        .expect("a slot number")
                })
                .collect();
            (event.at, slots)
        })
        .collect();
    let ends = starts.iter().skip(1).map(|(at, _)| *at).chain(rollout.ended_at);
    starts
        .iter()
        .zip(ends)
        .map(|((began, slots), ended)| {
            let times = |slot: u64, revision: u64| {
                lifetimes
                    .get(&(slot, revision))
                    .unwrap_or_else(|| panic!("no container events for slot {slot} revision {revision}"))
            };
            let last = slots
                .iter()
                .copied()
                .max_by_key(|&slot| times(slot, rollout.to_revision).healthy)
                .expect("a batch has slots");
            let (old, new) = (
                times(last, rollout.from_revision),
                times(last, rollout.to_revision),
            );
            let at = |time: Option<i64>, what: &str| {
                time.unwrap_or_else(|| panic!("slot {last}: no {what} event: old {old:?}, new {new:?}"))
            };
            let (kill, die) = (at(old.kill, "kill"), at(old.die, "die"));
            let (create, healthy) = (at(new.create, "create"), at(new.healthy, "healthy"));
            let (task_made, creating) = made
                .get(&new.id)
                .copied()
                .unwrap_or_else(|| panic!("slot {last}: no task has container {}", new.id));
            Batch {
                slots: slots.clone(),
                time: ended - began,
                to_stop: kill - began,
                stop: die - kill,
                new_task: task_made - die,
                to_node: creating - task_made,
                create: create - creating,
                start: healthy - create,
                to_next: ended - healthy - MONITOR_MS,
            }
        })
        .collect()
}

fn report(parallelism: u64, rollout: &Rollout, batches: &[Batch]) {
    let wall = rollout.ended_at.expect("a completed rollout has ended") - rollout.started_at;
    let sum = |figure: fn(&Batch) -> i64| batches.iter().map(figure).sum::<i64>();
    // The batches run back to back from the first to the end.
    let lead_in = wall - sum(|b| b.time);
    println!(
        "\n{REPLICAS} replicas, parallelism {parallelism}, stop-first, monitor {MONITOR_MS} ms, delay 0 \
         (revision {} → {}), times in ms",
        rollout.from_revision, rollout.to_revision
    );
    let columns = [
        "to stop", "stop", "new task", "to node", "create", "start", "monitor", "to next", "overhead",
    ];
    let header: Vec<String> = columns.iter().map(|column| format!("{column:>8}")).collect();
    println!("batch  {:<14} {:>6} {}", "slots", "time", header.join(" "));
    for (number, batch) in batches.iter().enumerate() {
        let slots: Vec<String> = batch.slots.iter().map(u64::to_string).collect();
        let figures: Vec<String> = [
            batch.to_stop,
            batch.stop,
            batch.new_task,
            batch.to_node,
            batch.create,
            batch.start,
            MONITOR_MS,
            batch.to_next,
            batch.overhead(),
        ]
        .iter()
        .map(|figure| format!("{figure:>8}"))
        .collect();
        println!(
            "{:>5}  {:<14} {:>6} {}",
            number + 1,
            slots.join(","),
            batch.time,
            figures.join(" ")
        );
    }
    let overhead = lead_in + sum(Batch::overhead);
    println!(
        "total: wall {wall} = containers {} (stop {}, create {}, start {}) + monitor {} + overhead \
         {overhead}: before the first batch {lead_in}, to stop {}, new task {}, to node {}, to next {} \
         ({:.0} per batch, {:.1}% of the wall time)",
        sum(Batch::containers),
        sum(|b| b.stop),
        sum(|b| b.create),
        sum(|b| b.start),
        MONITOR_MS * batches.len() as i64,
        sum(|b| b.to_stop),
        sum(|b| b.new_task),
        sum(|b| b.to_node),
        sum(|b| b.to_next),
        sum(Batch::overhead) as f64 / batches.len().max(1) as f64,
        overhead as f64 * 100.0 / wall.max(1) as f64
    );
}
