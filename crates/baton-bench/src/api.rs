//! The API latency phase: GET /api/workflows/{id} on a `baton serve` that is draining a
//! backlog at the same time. First a closed loop (`BENCH_API_CLIENTS` clients, each sending its
//! next request when the last one answered) gives the peak rate; then an open loop sends
//! requests on a fixed schedule at 70% of that peak, each latency measured from the request's
//! scheduled time (so a slow answer delays nothing and hides nothing).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::bail;
use reqwest::{Client, StatusCode};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use uuid::Uuid;

use crate::child::{self, ServeConfig, Served};
use crate::settings::Settings;
use crate::{app, cpu, poll, scrape, table};

/// The share of the peak rate the open loop sends (the "70% of its peak rate").
pub const OPEN_LOOP_SHARE: f64 = 0.7;

/// One measured window.
pub struct Window {
    pub secs: f64,
    /// Requests answered 200.
    pub ok: usize,
    /// Requests answered otherwise, or not at all.
    pub errors: usize,
    /// Latency of each answered request, in ms, sorted.
    pub latencies_ms: Vec<f64>,
    /// Steps the engine completed per second during the window.
    pub steps_per_sec: f64,
    /// Whether workflows were still running when the window ended (the drain outlasted it).
    pub still_draining: bool,
    /// Where the CPU went during the window (`baton serve`, the bench's client, …).
    pub cpu: Option<cpu::Usage>,
}

impl Window {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.secs.max(1e-9)
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        table::percentile(&self.latencies_ms, p)
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_ms.last().copied().unwrap_or(f64::NAN)
    }

    fn print_cpu(&self) {
        if let Some(cpu) = &self.cpu {
            println!("    {}", cpu.describe_with_child());
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} answered ({:.0}/s), {} errors; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
             drain {:.0} steps/s, {}",
            self.ok,
            self.rate(),
            self.errors,
            self.percentile_ms(0.5),
            self.percentile_ms(0.99),
            self.max_ms(),
            self.steps_per_sec,
            if self.still_draining {
                "still draining at the end"
            } else {
                "THE DRAIN HAD FINISHED by the end (raise BENCH_API_BACKLOG or BENCH_API_TASKS)"
            }
        )
    }
}

/// Results of the API phase.
pub struct Api {
    pub clients: usize,
    /// The closed loop: its rate is the peak.
    pub peak: Window,
    /// The rate the open loop was scheduled at.
    pub open_rate: f64,
    pub open: Window,
}

/// Creates the backlog with an API-only `baton serve` (stopped afterwards), then spawns the
/// draining one and measures both windows against it.
pub async fn run(settings: &Settings, database_url: &str) -> anyhow::Result<Api> {
    let client = app::http_client()?;
    let ids = create_backlog(settings, &client, database_url).await?;
    let config = ServeConfig {
        database_url: database_url.to_owned(),
        workers: settings.drain_workers,
        pool: settings.drain_workers + 4,
        fetch_allow_private: false,
    };
    let mut drainer = child::spawn(settings, &client, &config).await?;
    let base_url = drainer.base_url.clone();
    let window = Duration::from_secs(settings.api_seconds);
    let ids = Arc::new(ids);
    println!(
        "  draining with BATON_WORKERS={}; closed loop: {} clients for {} s",
        settings.drain_workers,
        settings.api_clients,
        window.as_secs()
    );
    let start = Start::now(&client, &drainer).await?;
    let measured = closed_loop(&client, &base_url, &ids, settings.api_clients, window).await;
    let peak = finish(&client, &drainer, start, measured).await?;
    println!("  peak: {}", peak.describe());
    peak.print_cpu();
    let open_rate = peak.rate() * OPEN_LOOP_SHARE;
    if open_rate < 1.0 {
        bail!(
            "the peak rate was {:.1} requests/s: nothing to measure",
            peak.rate()
        );
    }
    println!(
        "  open loop at {:.0}% of the peak: {open_rate:.0} requests/s for {} s",
        OPEN_LOOP_SHARE * 100.0,
        window.as_secs()
    );
    let start = Start::now(&client, &drainer).await?;
    let measured = open_loop(&client, &base_url, &ids, open_rate, window).await;
    let open = finish(&client, &drainer, start, measured).await?;
    println!("  at {open_rate:.0}/s: {}", open.describe());
    open.print_cpu();
    drainer.check_alive()?;
    drainer.stop().await?;
    Ok(Api {
        clients: settings.api_clients,
        peak,
        open_rate,
        open,
    })
}

/// `BENCH_API_BACKLOG` started workflows of `BENCH_API_TASKS` no-op tasks, created through an
/// API-only `baton serve` (so that they all wait), which is then stopped: one process per
/// SQLite file, and the drain starts with the drainer.
async fn create_backlog(
    settings: &Settings,
    client: &Client,
    database_url: &str,
) -> anyhow::Result<Vec<Uuid>> {
    let config = ServeConfig {
        database_url: database_url.to_owned(),
        workers: 0,
        pool: 16,
        fetch_allow_private: false,
    };
    let creator = child::spawn(settings, client, &config).await?;
    let created = Instant::now();
    let ids = app::create_many(
        client,
        &creator.base_url,
        app::noop_workflow("bench-api", settings.api_tasks, true),
        settings.api_backlog,
        settings.create_concurrency,
    )
    .await?;
    creator.stop().await?;
    println!(
        "  created {} started workflows of {} no-op tasks in {:.1} s with an API-only baton serve \
         (stopped)",
        ids.len(),
        settings.api_tasks,
        created.elapsed().as_secs_f64()
    );
    Ok(ids)
}

/// What a window measured: answered, errors, latencies in ms.
type Measured = (usize, usize, Vec<f64>);

/// Readings at the start of a window.
struct Start {
    progress: scrape::Progress,
    cpu: Option<cpu::Sample>,
    at: Instant,
}

impl Start {
    async fn now(client: &Client, drainer: &Served) -> anyhow::Result<Self> {
        Ok(Self {
            progress: scrape::progress(client, &drainer.base_url).await?,
            cpu: cpu::sample_with(Some(drainer.pid())),
            at: Instant::now(),
        })
    }
}

/// Reads the drain's progress at the end of a window and puts the window's figures together.
async fn finish(
    client: &Client,
    drainer: &Served,
    start: Start,
    (ok, errors, mut latencies_ms): Measured,
) -> anyhow::Result<Window> {
    let secs = start.at.elapsed().as_secs_f64();
    let cpu = cpu::usage(start.cpu, cpu::sample_with(Some(drainer.pid())));
    let after = scrape::progress(client, &drainer.base_url).await?;
    let still_draining = poll::any_running(client, &drainer.base_url).await?;
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Window {
        secs,
        ok,
        errors,
        latencies_ms,
        steps_per_sec: (after.tasks_completed - start.progress.tasks_completed) / secs.max(1e-9),
        still_draining,
        cpu,
    })
}

/// GET /api/workflows/{id}, the body read in full; whether it answered 200.
async fn get(client: &Client, url: &str) -> bool {
    match client.get(url).send().await {
        Ok(response) => response.status() == StatusCode::OK && response.bytes().await.is_ok(),
        Err(_) => false,
    }
}

fn workflow_url(base_url: &str, ids: &[Uuid], n: usize) -> String {
    format!("{base_url}/api/workflows/{}", ids[n % ids.len()])
}

/// `clients` clients GET the workflows in turn for `window`.
async fn closed_loop(
    client: &Client,
    base_url: &str,
    ids: &Arc<Vec<Uuid>>,
    clients: usize,
    window: Duration,
) -> Measured {
    let end = Instant::now() + window;
    let next = Arc::new(AtomicUsize::new(0));
    let mut loops = JoinSet::new();
    for _ in 0..clients {
        let (client, base_url, ids, next) = (
            client.clone(),
            base_url.to_owned(),
            ids.clone(),
            next.clone(),
        );
        loops.spawn(async move {
            let (mut errors, mut latencies) = (0, Vec::new());
            while Instant::now() < end {
                let url = workflow_url(&base_url, &ids, next.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                if get(&client, &url).await {
                    latencies.push(sent.elapsed().as_secs_f64() * 1_000.0);
                } else {
                    errors += 1;
                }
            }
            (errors, latencies)
        });
    }
    let (mut errors, mut latencies) = (0, Vec::new());
    while let Some(done) = loops.join_next().await {
        match done {
            Ok((e, l)) => {
                errors += e;
                latencies.extend(l);
            }
            Err(_) => errors += 1,
        }
    }
    (latencies.len(), errors, latencies)
}

/// Requests on a fixed schedule at `rate` per second for `window`, each spawned at its tick
/// and timed from the tick's scheduled instant (late ticks fire at once: `Burst`).
async fn open_loop(
    client: &Client,
    base_url: &str,
    ids: &Arc<Vec<Uuid>>,
    rate: f64,
    window: Duration,
) -> Measured {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let end = Instant::now() + window;
    let mut requests = JoinSet::new();
    let (mut errors, mut latencies) = (0, Vec::new());
    let mut record = |done: Result<Option<f64>, _>| match done {
        Ok(Some(ms)) => latencies.push(ms),
        _ => errors += 1,
    };
    for n in 0.. {
        let scheduled = ticks.tick().await;
        if scheduled >= end {
            break;
        }
        let (client, url) = (client.clone(), workflow_url(base_url, ids, n));
        requests.spawn(async move {
            get(&client, &url)
                .await
                .then(|| scheduled.elapsed().as_secs_f64() * 1_000.0)
        });
        while let Some(done) = requests.try_join_next() {
            record(done);
        }
    }
    while let Some(done) = requests.join_next().await {
        record(done);
    }
    (latencies.len(), errors, latencies)
}
