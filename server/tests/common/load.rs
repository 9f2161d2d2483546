//! A small HTTP load generator for the routing-mesh tests: workers that
//! keep one connection alive and workers that open a new connection for
//! every request, spread over several addresses, bounded in requests and
//! time. Every request is recorded with the phase it started in, so a test
//! can compare latency before and during a rollout. A request may stand for
//! calls made behind it (the demo's `/call` makes them from inside a task),
//! whose latencies its answer reports.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub keep_alive_workers: usize,
    pub new_connection_workers: usize,
    /// Between one worker's requests, so the load leaves the machine room
    /// for the containers and their health checks.
    pub pause: Duration,
    pub max_requests: u64,
    pub max_time: Duration,
    /// Reads a 2xx answer's body: the latencies of the calls it reports
    /// made behind it (none for a plain request), or why it is a failure.
    pub judge: fn(&str) -> Result<Vec<Duration>, String>,
}

/// The [`Shape::judge`] of requests that a demo task answers itself.
pub fn demo_banner(body: &str) -> Result<Vec<Duration>, String> {
    if body.starts_with("shoal-demo") {
        Ok(Vec::new())
    } else {
        Err(format!("unexpected body {body:?}"))
    }
}

struct Sample {
    phase: usize,
    latency: Duration,
    failure: Option<String>,
    behind: Vec<Duration>,
}

pub struct Load {
    phase: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    workers: Vec<JoinHandle<Vec<Sample>>>,
    started: Instant,
    names: Arc<Mutex<Vec<String>>>,
}

/// One phase's figures.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub requests: usize,
    pub failures: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The first few failures, verbatim.
    pub examples: Vec<String>,
    /// The calls that succeeded behind the requests, and their latencies as
    /// the caller behind measured them.
    pub calls: usize,
    pub calls_p50: Duration,
    pub calls_p99: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7} requests, {:>3} failed, p50 {:>6.2} ms, p99 {:>6.2} ms, max {:>7.2} ms",
            self.requests,
            self.failures,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3
        )?;
        if self.calls > 0 {
            write!(
                f,
                "; behind them {} calls, p50 {:.2} ms, p99 {:.2} ms",
                self.calls,
                self.calls_p50.as_secs_f64() * 1e3,
                self.calls_p99.as_secs_f64() * 1e3
            )?;
        }
        Ok(())
    }
}

pub struct Report {
    /// By phase name, in the order the phases began.
    pub phases: Vec<(String, Figures)>,
    pub total: Figures,
    pub elapsed: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, figures) in &self.phases {
            writeln!(f, "{name:<40} {figures}")?;
        }
        write!(
            f,
            "{:<40} {} in {:.1} s",
            "total",
            self.total,
            self.elapsed.as_secs_f64()
        )
    }
}

impl Load {
    /// Starts the workers against `urls` in phase `first`.
    pub fn start(urls: Vec<String>, shape: Shape, first: &str) -> Self {
        let phase = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let urls = Arc::new(urls);
        let started = Instant::now();
        let worker = |n: usize, keep_alive: bool| {
            let builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
            let client = if keep_alive {
                builder.pool_max_idle_per_host(1)
            } else {
                builder.pool_max_idle_per_host(0)
            }
            .build()
            .unwrap();
            let (phase, stop, sent, urls) = (phase.clone(), stop.clone(), sent.clone(), urls.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut next = n;
                while !stop.load(Ordering::Relaxed)
                    && sent.fetch_add(1, Ordering::Relaxed) < shape.max_requests
                    && started.elapsed() < shape.max_time
                {
                    let url = &urls[next % urls.len()];
                    next += 1;
                    let in_phase = phase.load(Ordering::Relaxed);
                    let at = Instant::now();
                    let judged = match client.get(url).send().await {
                        Ok(response) if response.status().is_success() => match response.text().await {
                            Ok(body) => (shape.judge)(&body),
                            Err(error) => Err(format!("reading the body: {error:?}")),
                        },
                        Ok(response) => {
                            let status = response.status();
                            Err(format!(
                                "status {status}: {}",
                                response.text().await.unwrap_or_default()
                            ))
                        }
                        Err(error) => Err(format!("{error:?}")),
                    };
                    let latency = at.elapsed();
                    let (failure, behind) = match judged {
                        Ok(behind) => (None, behind),
                        Err(why) => (Some(format!("{url}: {why}")), Vec::new()),
                    };
                    samples.push(Sample {
                        phase: in_phase,
                        latency,
                        failure,
                        behind,
                    });
                    tokio::time::sleep(shape.pause).await;
                }
                samples
            })
        };
        let mut workers = Vec::new();
        for n in 0..shape.keep_alive_workers {
            workers.push(worker(n, true));
        }
        for n in 0..shape.new_connection_workers {
            workers.push(worker(n, false));
        }
        Self {
            phase,
            stop,
            sent,
            workers,
            started,
            names: Arc::new(Mutex::new(vec![first.to_owned()])),
        }
    }

    /// Requests from now on count for a new phase.
    pub fn phase(&self, name: &str) {
        let mut names = self.names.lock().unwrap();
        names.push(name.to_owned());
        self.phase.store(names.len() - 1, Ordering::Relaxed);
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = Vec::new();
        for worker in self.workers {
            samples.extend(worker.await.unwrap());
        }
        let names = self.names.lock().unwrap().clone();
        let mut by_phase: BTreeMap<usize, Vec<&Sample>> = BTreeMap::new();
        for sample in &samples {
            by_phase.entry(sample.phase).or_default().push(sample);
        }
        Report {
            phases: by_phase
                .into_iter()
                .map(|(phase, samples)| (names[phase].clone(), figures(&samples)))
                .collect(),
            total: figures(&samples.iter().collect::<Vec<_>>()),
            elapsed: self.started.elapsed(),
        }
    }
}

fn figures(samples: &[&Sample]) -> Figures {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let mut behind: Vec<Duration> = samples.iter().flat_map(|s| s.behind.iter().copied()).collect();
    behind.sort();
    let failed: Vec<&String> = samples.iter().filter_map(|s| s.failure.as_ref()).collect();
    Figures {
        requests: samples.len(),
        failures: failed.len(),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        examples: failed.into_iter().take(5).cloned().collect(),
        calls: behind.len(),
        calls_p50: quantile(&behind, 0.50),
        calls_p99: quantile(&behind, 0.99),
    }
}

/// The `q` quantile of sorted latencies, zero for none.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}
