//! The benchmark on SQLite: the calibration loops, then Baton's phases on files in the bench's
//! directory, with completion detected through the HTTP API and SQL statements counted by the
//! app's store (SQLite has no commit counter).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use baton_server::store::Store;
use chrono::Utc;
use tokio::time::Instant;

use crate::api::{self, Api};
use crate::fan_out::{self, FanOut};
use crate::memory::{self, Memory};
use crate::phases::Phase;
use crate::scratch::{
    API_FILE, BACKLOG_FILE, CALIBRATION_FILE, FAN_OUT_FILE, MEMORY_FILE, SEQUENTIAL_FILE,
    SERVE_FILE, Scratch,
};
use crate::serve::{self, Serve};
use crate::settings::Settings;
use crate::{app, cpu, poll, runs, sqlite, sqlite_report, table};

/// How often the drain is checked for completion.
const DRAIN_POLL: Duration = Duration::from_millis(50);
/// Calls of a kind the bench polls with, to learn what one costs in statements.
const COST_TRIES: usize = 10;

/// Runs the benchmark in `dir`, then removes its files (also when a phase failed).
pub async fn main(settings: &Settings, dir: &Path) -> anyhow::Result<()> {
    let scratch = Scratch::prepare(dir)?;
    let result = run(settings, &scratch).await;
    let cleanup = scratch.remove();
    if let Err(err) = &cleanup {
        eprintln!(
            "warning: cannot remove the bench's files in {}: {err:#}",
            scratch.dir().display()
        );
    }
    result?;
    cleanup
}

/// What a run measured: a phase not chosen (`BENCH_PHASES`) is `None`.
#[derive(Default)]
pub struct Results {
    pub calibration: Option<sqlite::Calibration>,
    pub sequential: Option<Sequential>,
    pub serve: Option<Serve>,
    pub backlog: Option<Backlog>,
    pub fan_out: Option<FanOut>,
    pub api: Option<Api>,
    pub memory: Option<Memory>,
}

async fn run(settings: &Settings, scratch: &Scratch) -> anyhow::Result<()> {
    println!(
        "baton-bench on sqlite in {} (BENCH_SECONDS={}, {} CPUs)",
        scratch.dir().display(),
        settings.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let phases = &settings.phases;
    let mut heading = phases.headings();
    let mut results = Results::default();
    if phases.has(Phase::Calibration) {
        heading.start(&format!(
            "calibration: one-row UPDATEs on {CALIBRATION_FILE}, 1 thread, one BEGIN IMMEDIATE \
             transaction per commit (WAL, synchronous=FULL, busy_timeout={} ms)",
            baton_sqlite::SqliteConfig::default()
                .busy_timeout
                .as_millis()
        ));
        results.calibration = Some(calibrate(settings, scratch).await?);
    }
    if phases.has(Phase::Sequential) {
        heading.start(&format!(
            "per-step overhead: {} runs of a {}-task sequential no-op workflow \
             (BATON_WORKERS={}, {SEQUENTIAL_FILE})",
            settings.runs, settings.tasks, settings.workers
        ));
        results.sequential = Some(sequential(settings, &scratch.url(SEQUENTIAL_FILE)?).await?);
    }
    if phases.has(Phase::Serve) {
        heading.start(&format!(
            "serve: the same runs against the baton binary (baton serve, BATON_WORKERS={}, \
             {SERVE_FILE})",
            settings.workers
        ));
        results.serve = Some(serve::run(settings, &scratch.url(SERVE_FILE)?).await?);
    }
    if phases.has(Phase::Backlog) {
        heading.start(&format!(
            "backlog: {} one-task workflows drained by a fresh app (BATON_WORKERS={}, \
             {BACKLOG_FILE})",
            settings.backlog, settings.drain_workers
        ));
        results.backlog = Some(backlog(settings, &scratch.url(BACKLOG_FILE)?).await?);
    }
    if phases.has(Phase::FanOut) {
        heading.start(&format!(
            "fan-out: one workflow over {} no-op elements, joined (BATON_WORKERS={}, \
             {FAN_OUT_FILE})",
            settings.fan_out, settings.workers
        ));
        results.fan_out = Some(fan_out::run(settings, &scratch.url(FAN_OUT_FILE)?).await?);
    }
    if phases.has(Phase::Api) {
        heading.start(&format!(
            "api: GET /api/workflows/{{id}} on baton serve while it drains {} workflows of {} \
             tasks ({API_FILE})",
            settings.api_backlog, settings.api_tasks
        ));
        results.api = Some(api::run(settings, &scratch.url(API_FILE)?).await?);
    }
    if phases.has(Phase::Memory) {
        heading.start(&format!(
            "memory: resident size of baton serve with {} workflows queued, {} running, for {} s \
             ({MEMORY_FILE})",
            settings.memory_backlog,
            memory::WORKERS,
            settings.memory_seconds
        ));
        results.memory = Some(memory::run(settings, &scratch.url(MEMORY_FILE)?).await?);
    }
    sqlite_report::print(settings, &results);
    Ok(())
}

async fn calibrate(settings: &Settings, scratch: &Scratch) -> anyhow::Result<sqlite::Calibration> {
    let calibration = sqlite::calibrate(
        scratch.file(CALIBRATION_FILE),
        settings.seconds,
        settings.sqlite_batch,
    )
    .await?;
    let (single, batched) = (calibration.single, calibration.batched);
    println!(
        "   1 UPDATE/commit : {:>9.1} commits/s  ({:.3} ms/commit)",
        single.commits_per_sec(),
        single.ms_per_commit()
    );
    println!(
        "  {:>2} UPDATEs/commit: {:>9.1} updates/s  ({:.1} commits/s, {:.3} ms/commit)",
        batched.updates_per_commit,
        batched.updates_per_sec(),
        batched.commits_per_sec(),
        batched.ms_per_commit()
    );
    Ok(calibration)
}

/// SQL statements the app's store sent over a window, and the part the bench's polling cost.
pub struct Statements {
    pub total: u64,
    /// The bench's polling calls to the API in the window.
    pub polls: u64,
    /// Statements of one such call (the fewest over `COST_TRIES` calls made afterwards).
    pub per_poll: u64,
}

impl Statements {
    /// Per step, the bench's polling taken out.
    pub fn net_per_step(&self, steps: usize) -> f64 {
        self.total.saturating_sub(self.polls * self.per_poll) as f64 / steps as f64
    }

    pub fn per_step(&self, steps: usize) -> f64 {
        self.total as f64 / steps as f64
    }

    fn describe(&self, steps: usize) -> String {
        format!(
            "{} SQL statements for {steps} steps, {} of them the bench's {} polls \
             ({} each): {:.2} statements/step net of the polling ({:.2} with it)",
            self.total,
            self.polls * self.per_poll,
            self.polls,
            self.per_poll,
            self.net_per_step(steps),
            self.per_step(steps)
        )
    }
}

/// Results of the sequential runs.
pub struct Sequential {
    /// Per-step overhead of each run, in ms, sorted.
    pub per_step_ms: Vec<f64>,
    pub steps: usize,
    pub statements: Statements,
    pub cpu: Option<cpu::Usage>,
}

async fn sequential(settings: &Settings, url: &str) -> anyhow::Result<Sequential> {
    let baton = app::start(url, settings.workers, 16).await?;
    let client = app::http_client()?;
    let base_url = baton.base_url.as_str();
    runs::warm_up(&client, base_url, settings).await?;
    println!(
        "  {} warm-up runs done; completion is polled with GET /api/workflows/{{id}} every {} ms",
        settings.warmup,
        settings.poll.as_millis()
    );
    let before = baton.store.statements_executed();
    let cpu_before = cpu::sample();
    let runs = runs::measure(&client, base_url, settings).await?;
    let total = baton.store.statements_executed() - before;
    let cpu = cpu::usage(cpu_before, cpu::sample());
    let last = runs.ids.last().context("no measured run")?;
    let path = format!("/api/workflows/{last}");
    let per_poll = cost(&baton.store, &client, base_url, &path).await?;
    let statements = Statements {
        total,
        polls: runs.gets,
        per_poll,
    };
    let per_step_ms = runs::per_step_ms(&client, base_url, &runs.ids, settings.tasks).await?;
    let steps = settings.runs * settings.tasks;
    println!(
        "  per-step overhead over {} runs: median {:.3} ms, p99 {:.3} ms, min {:.3} ms",
        settings.runs,
        table::percentile(&per_step_ms, 0.5),
        table::percentile(&per_step_ms, 0.99),
        per_step_ms.first().copied().unwrap_or_default()
    );
    println!("  {}", statements.describe(steps));
    if let Some(cpu) = &cpu {
        println!("  during the runs: {}", cpu.describe_in_process());
    }
    Ok(Sequential {
        per_step_ms,
        steps,
        statements,
        cpu,
    })
}

/// Statements one GET of `path` costs the store (the fewest over `COST_TRIES` GETs).
async fn cost(
    store: &Store,
    client: &reqwest::Client,
    base_url: &str,
    path: &str,
) -> anyhow::Result<u64> {
    poll::statements_per_call(store, COST_TRIES, move || async move {
        app::get_json(client, base_url, path).await.map(drop)
    })
    .await
}

/// Results of the backlog drain.
pub struct Backlog {
    pub steps: usize,
    pub create_secs: f64,
    /// From this machine's clock (SQLite's clock too) just before the drainer is built to the
    /// last `finished_at`.
    pub drain_secs: f64,
    /// From the first `finished_at` to the last.
    pub span_secs: f64,
    pub wall_secs: f64,
    pub statements: Statements,
    pub cpu: Option<cpu::Usage>,
}

impl Backlog {
    pub fn steps_per_sec(&self) -> f64 {
        self.steps as f64 / self.drain_secs
    }
}

async fn backlog(settings: &Settings, url: &str) -> anyhow::Result<Backlog> {
    // Serves the API only: what it creates stays queued.
    let api = app::start(url, 0, 16).await?;
    let client = app::http_client()?;
    let created = Instant::now();
    app::create_many(
        &client,
        &api.base_url,
        app::noop_workflow("bench-backlog", 1, true),
        settings.backlog,
        settings.create_concurrency,
    )
    .await?;
    let create_secs = created.elapsed().as_secs_f64();
    // One process per file is the supported shape: the creator goes before the drainer opens it.
    api.stop().await;
    println!(
        "  created {} started workflows in {create_secs:.1} s ({:.0}/s, {} concurrent POSTs, \
         BATON_WORKERS=0); that app is stopped",
        settings.backlog,
        settings.backlog as f64 / create_secs,
        settings.create_concurrency
    );
    // SQLite writes `finished_at` with this machine's clock ('now'): the same clock as here.
    let started_clock = Utc::now();
    let started = Instant::now();
    let cpu_before = cpu::sample();
    let drainer = app::start(url, settings.drain_workers, settings.drain_workers + 4).await?;
    let base_url = drainer.base_url.as_str();
    let limit = Duration::from_secs(600).max(Duration::from_millis(settings.backlog as u64 * 10));
    let mut polls = 0;
    loop {
        polls += 1;
        if !poll::any_running(&client, base_url).await? {
            break;
        }
        if started.elapsed() > limit {
            bail!("the backlog was not drained within {limit:?}");
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let drained = Instant::now();
    let cpu = cpu::usage(cpu_before, cpu::sample());
    let wall_secs = drained.duration_since(started).as_secs_f64();
    let total = drainer.store.statements_executed();
    // A poll during the drain returns one running workflow with its task: as one completed.
    let per_poll = cost(
        &drainer.store,
        &client,
        base_url,
        "/api/workflows?status=completed&limit=1",
    )
    .await?;
    let (first, last) = poll::finished_span(&client, base_url, settings.backlog).await?;
    let drain_secs = (last - started_clock)
        .to_std()
        .context("the last workflow finished before the drain started")?
        .as_secs_f64();
    let span_secs = (last - first).to_std().unwrap_or_default().as_secs_f64();
    let result = Backlog {
        steps: settings.backlog,
        create_secs,
        drain_secs,
        span_secs,
        wall_secs,
        statements: Statements {
            total,
            polls,
            per_poll,
        },
        cpu,
    };
    println!(
        "  drained in {drain_secs:.2} s, from the clock just before the drainer was built to the \
         last finished_at (first to last finished_at: {span_secs:.2} s; {wall_secs:.2} s wall, \
         polled every {} ms): {:.0} steps/s",
        DRAIN_POLL.as_millis(),
        result.steps_per_sec()
    );
    println!("  {}", result.statements.describe(result.steps));
    if let Some(cpu) = &result.cpu {
        println!("  during the drain: {}", cpu.describe_in_process());
    }
    Ok(result)
}
