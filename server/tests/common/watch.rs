//! Watches a service's containers on the Docker engine while something
//! happens to them: what Docker itself runs, not what the server believes.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::docker::docker;

/// Often enough to see a slot that is down for a health check's interval.
const EVERY: Duration = Duration::from_millis(200);

/// The service's running containers at one moment.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Running containers per slot label.
    pub running: BTreeMap<u64, usize>,
    /// Running containers whose health check passes.
    pub healthy: usize,
}

impl Sample {
    pub fn running_total(&self) -> usize {
        self.running.values().sum()
    }
}

/// Samples `docker ps` for one service in a thread until stopped; each
/// sample with the time since the start.
pub struct ContainerWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<(Duration, Sample)>>>,
}

impl ContainerWatch {
    pub fn start(service_id: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let service_id = service_id.to_owned();
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let started = Instant::now();
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    samples.extend(sample(&service_id).map(|sample| (started.elapsed(), sample)));
                    std::thread::sleep(EVERY);
                }
                samples
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Everything sampled so far; the watch ends.
    pub fn stop(mut self) -> Vec<(Duration, Sample)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("the watch thread ran")
    }
}

impl Drop for ContainerWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The service's running containers now; `None` when `docker ps` fails,
/// rather than an empty sample that would read as every container gone.
pub fn sample(service_id: &str) -> Option<Sample> {
    let listing = docker(&[
        "ps",
        "--filter",
        &format!("label=shoal.service.id={service_id}"),
        "--filter",
        "status=running",
        "--format",
        "{{.Label \"shoal.slot\"}}\t{{.Status}}",
    ])
    .ok()?;
    let mut sample = Sample::default();
    for line in listing.lines() {
        let (slot, status) = line.split_once('\t').unwrap_or((line, ""));
        *sample.running.entry(slot.parse().unwrap_or(0)).or_default() += 1;
        // "Up 3 seconds (healthy)", or "(health: starting)", "(unhealthy)".
        if status.ends_with("(healthy)") {
            sample.healthy += 1;
        }
    }
    Some(sample)
}
