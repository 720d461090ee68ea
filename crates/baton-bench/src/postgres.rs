//! The benchmark on Postgres: pgbench calibration, then Baton's phases on scratch databases,
//! with commits counted from `pg_stat_database` (DESIGN.md §7).

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::api::{self, Api};
use crate::fan_out::{self, FanOut};
use crate::memory::{self, Memory};
use crate::monitor::{Delta, Monitor};
use crate::phases::Phase;
use crate::serve::{self, Serve};
use crate::settings::Settings;
use crate::target::postgres_database_url;
use crate::{app, cpu, pg_report, pgbench, table};

const PGBENCH_DATABASE: &str = "baton_bench_pgbench";
const SEQUENTIAL_DATABASE: &str = "baton_bench_sequential";
const SERVE_DATABASE: &str = "baton_bench_serve";
const BACKLOG_DATABASE: &str = "baton_bench_backlog";
const FAN_OUT_DATABASE: &str = "baton_bench_fan_out";
const API_DATABASE: &str = "baton_bench_api";
const MEMORY_DATABASE: &str = "baton_bench_memory";
const DATABASES: [&str; 7] = [
    PGBENCH_DATABASE,
    SEQUENTIAL_DATABASE,
    SERVE_DATABASE,
    BACKLOG_DATABASE,
    FAN_OUT_DATABASE,
    API_DATABASE,
    MEMORY_DATABASE,
];

/// Runs the benchmark on `server_url`, then drops the scratch databases (also when a phase
/// failed).
pub async fn main(settings: &Settings, server_url: &str) -> anyhow::Result<()> {
    let result = run(settings, server_url).await;
    let mut cleanup = Ok(());
    for name in DATABASES {
        if let Err(err) =
            baton_postgres::drop_database(&postgres_database_url(server_url, name)).await
        {
            eprintln!("warning: cannot drop database {name}: {err:#}");
            cleanup = Err(err);
        }
    }
    result?;
    cleanup
}

/// What a run measured: a phase not chosen (`BENCH_PHASES`) is `None`.
#[derive(Default)]
pub struct Results {
    pub calibration: Option<pgbench::Calibration>,
    pub sequential: Option<Sequential>,
    pub serve: Option<Serve>,
    pub backlog: Option<Backlog>,
    pub fan_out: Option<FanOut>,
    pub api: Option<Api>,
    pub memory: Option<Memory>,
}

async fn run(settings: &Settings, server_url: &str) -> anyhow::Result<()> {
    println!(
        "baton-bench on {} (BENCH_SECONDS={}, {} CPUs)",
        server_url,
        settings.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let phases = &settings.phases;
    let mut heading = phases.headings();
    let url = |name: &str| postgres_database_url(server_url, name);
    let mut results = Results::default();
    if phases.has(Phase::Calibration) {
        heading.start("calibration with pgbench (1-row UPDATE per transaction)");
        results.calibration = Some(pgbench::calibrate(settings, &url(PGBENCH_DATABASE)).await?);
    }
    if phases.has(Phase::Sequential) {
        heading.start(&format!(
            "per-step overhead: {} runs of a {}-task sequential no-op workflow \
             (BATON_WORKERS={})",
            settings.runs, settings.tasks, settings.workers
        ));
        results.sequential = Some(sequential(settings, &url(SEQUENTIAL_DATABASE)).await?);
    }
    if phases.has(Phase::Serve) {
        heading.start(&format!(
            "serve: the same runs against the baton binary (baton serve, BATON_WORKERS={}, \
             database {SERVE_DATABASE})",
            settings.workers
        ));
        let serve_url = url(SERVE_DATABASE);
        baton_postgres::drop_database(&serve_url).await?;
        results.serve = Some(serve::run(settings, &serve_url).await?);
    }
    if phases.has(Phase::Backlog) {
        heading.start(&format!(
            "backlog: {} one-task workflows drained by a fresh app (BATON_WORKERS={})",
            settings.backlog, settings.drain_workers
        ));
        results.backlog = Some(backlog(settings, &url(BACKLOG_DATABASE)).await?);
    }
    if phases.has(Phase::FanOut) {
        heading.start(&format!(
            "fan-out: one workflow over {} no-op elements, joined (BATON_WORKERS={})",
            settings.fan_out, settings.workers
        ));
        let fan_out_url = url(FAN_OUT_DATABASE);
        baton_postgres::drop_database(&fan_out_url).await?;
        results.fan_out = Some(fan_out::run(settings, &fan_out_url).await?);
    }
    if phases.has(Phase::Api) {
        heading.start(&format!(
            "api: GET /api/workflows/{{id}} on baton serve while it drains {} workflows of {} \
             tasks (database {API_DATABASE})",
            settings.api_backlog, settings.api_tasks
        ));
        let api_url = url(API_DATABASE);
        baton_postgres::drop_database(&api_url).await?;
        results.api = Some(api::run(settings, &api_url).await?);
    }
    if phases.has(Phase::Memory) {
        heading.start(&format!(
            "memory: resident size of baton serve with {} workflows queued, {} running, for {} s \
             (database {MEMORY_DATABASE})",
            settings.memory_backlog,
            memory::WORKERS,
            settings.memory_seconds
        ));
        let memory_url = url(MEMORY_DATABASE);
        baton_postgres::drop_database(&memory_url).await?;
        results.memory = Some(memory::run(settings, &memory_url).await?);
    }
    pg_report::print(settings, &results);
    Ok(())
}

/// Results of the sequential runs.
pub struct Sequential {
    /// Per-step overhead of each run, in ms, sorted.
    pub per_step_ms: Vec<f64>,
    pub steps: usize,
    pub commits: Commits,
    pub statements: u64,
    pub cpu: Option<cpu::Usage>,
}

/// Commits (and WAL fsyncs) counted over a window, and an estimate of the idle background
/// (the claim loop's polling, other clients of the cluster) over the same time.
pub struct Commits {
    pub window: Delta,
    pub idle_commits_per_sec: f64,
    pub idle_wal_syncs_per_sec: f64,
    /// The part of the window during which the engine was idle.
    pub idle_time: Duration,
}

impl Commits {
    fn new(window: Delta, idle: Delta, idle_time: Duration) -> Self {
        let secs = idle.elapsed.as_secs_f64().max(1e-9);
        Self {
            window,
            idle_commits_per_sec: idle.commits as f64 / secs,
            idle_wal_syncs_per_sec: idle.wal_syncs as f64 / secs,
            idle_time,
        }
    }

    pub fn per_step(&self, steps: usize) -> f64 {
        self.window.commits as f64 / steps as f64
    }

    pub fn net_per_step(&self, steps: usize) -> f64 {
        let idle = self.idle_commits_per_sec * self.idle_time.as_secs_f64();
        (self.window.commits as f64 - idle) / steps as f64
    }

    pub fn wal_syncs_per_step(&self, steps: usize) -> f64 {
        let idle = self.idle_wal_syncs_per_sec * self.idle_time.as_secs_f64();
        (self.window.wal_syncs as f64 - idle) / steps as f64
    }
}

async fn settle(settings: &Settings) {
    tokio::time::sleep(settings.settle).await;
}

async fn sequential(settings: &Settings, url: &str) -> anyhow::Result<Sequential> {
    baton_postgres::drop_database(url).await?;
    let baton = app::start(url, settings.workers, 16).await?;
    let client = app::http_client()?;
    let mut monitor = Monitor::connect(url).await?;
    let limit = Duration::from_secs(60);
    let body = app::noop_workflow("bench-sequential", settings.tasks, true);
    for _ in 0..settings.warmup {
        let id = app::create(&client, &baton.base_url, &body).await?;
        monitor.wait_completed(id, settings.poll, limit).await?;
    }
    println!(
        "  {} warm-up runs done; measuring the idle background ({} s twice, for statistics)",
        settings.warmup,
        settings.settle.as_secs()
    );
    settle(settings).await;
    monitor.open_window().await?;
    let before_idle = monitor.counters().await?;
    settle(settings).await;
    let before = monitor.counters().await?;
    let statements = baton.store.statements_executed();
    let cpu_before = cpu::sample();
    let mut ids = Vec::with_capacity(settings.runs);
    for _ in 0..settings.runs {
        let id = app::create(&client, &baton.base_url, &body).await?;
        monitor.wait_completed(id, settings.poll, limit).await?;
        ids.push(id);
    }
    let statements = baton.store.statements_executed() - statements;
    let cpu = cpu::usage(cpu_before, cpu::sample());
    settle(settings).await;
    let after = monitor.counters().await?;
    monitor.close_window().await?;
    let mut per_step_ms = Vec::with_capacity(ids.len());
    for id in ids {
        let run = app::finished(&client, &baton.base_url, id, settings.tasks).await?;
        per_step_ms.push(run.duration().as_secs_f64() * 1_000.0 / settings.tasks as f64);
    }
    per_step_ms.sort_by(f64::total_cmp);
    let steps = settings.runs * settings.tasks;
    let commits = Commits::new(
        after.since(&before),
        before.since(&before_idle),
        // The claim loop polls on its timer during the runs as well.
        after.at.duration_since(before.at),
    );
    println!(
        "  per-step overhead over {} runs: median {:.3} ms, p99 {:.3} ms, min {:.3} ms",
        settings.runs,
        table::percentile(&per_step_ms, 0.5),
        table::percentile(&per_step_ms, 0.99),
        per_step_ms.first().copied().unwrap_or_default()
    );
    println!(
        "  xact_commit +{} for {steps} steps ({:.3}/step; {:.3}/step net of {:.1} idle commits/s); \
         {:.2} SQL statements/step",
        commits.window.commits,
        commits.per_step(steps),
        commits.net_per_step(steps),
        commits.idle_commits_per_sec,
        statements as f64 / steps as f64
    );
    if let Some(cpu) = &cpu {
        println!("  during the runs: {}", cpu.describe());
    }
    Ok(Sequential {
        per_step_ms,
        steps,
        commits,
        statements,
        cpu,
    })
}

/// Results of the backlog drain.
pub struct Backlog {
    pub steps: usize,
    pub create_secs: f64,
    pub drain_secs: f64,
    pub wall_secs: f64,
    pub commits: Commits,
    pub statements: u64,
    pub cpu: Option<cpu::Usage>,
}

impl Backlog {
    pub fn steps_per_sec(&self) -> f64 {
        self.steps as f64 / self.drain_secs
    }
}

async fn backlog(settings: &Settings, url: &str) -> anyhow::Result<Backlog> {
    baton_postgres::drop_database(url).await?;
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
    println!(
        "  created {} started workflows in {create_secs:.1} s ({:.0}/s, {} concurrent POSTs, \
         BATON_WORKERS=0)",
        settings.backlog,
        settings.backlog as f64 / create_secs,
        settings.create_concurrency
    );
    let mut monitor = Monitor::connect(url).await?;
    settle(settings).await;
    monitor.open_window().await?;
    let before = monitor.counters().await?;
    let started_db = monitor.clock().await?;
    let started = Instant::now();
    let cpu_before = cpu::sample();
    let drainer = app::start(url, settings.drain_workers, settings.drain_workers + 4).await?;
    let target = i64::try_from(settings.backlog)?;
    let limit = Duration::from_secs(600).max(Duration::from_millis(settings.backlog as u64 * 10));
    loop {
        let (completed, unsuccessful) = monitor.progress().await?;
        if unsuccessful > 0 {
            bail!("{unsuccessful} backlog workflows failed or were cancelled");
        }
        if completed >= target {
            break;
        }
        if started.elapsed() > limit {
            bail!("the backlog was not drained within {limit:?} ({completed} of {target} done)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = Instant::now();
    let cpu = cpu::usage(cpu_before, cpu::sample());
    let wall_secs = drained.duration_since(started).as_secs_f64();
    let finished_db = monitor.last_finished().await?;
    let drain_secs = (finished_db - started_db)
        .to_std()
        .context("the last workflow finished before the drain started")?
        .as_secs_f64();
    let statements = drainer.store.statements_executed();
    settle(settings).await;
    let after = monitor.counters().await?;
    settle(settings).await;
    let idle = monitor.counters().await?;
    monitor.close_window().await?;
    let commits = Commits::new(
        after.since(&before),
        idle.since(&after),
        after.at.duration_since(drained),
    );
    let result = Backlog {
        steps: settings.backlog,
        create_secs,
        drain_secs,
        wall_secs,
        commits,
        statements,
        cpu,
    };
    println!(
        "  drained in {drain_secs:.2} s by the database's clocks ({wall_secs:.2} s wall, polled \
         every 50 ms): {:.0} steps/s",
        result.steps_per_sec()
    );
    println!(
        "  xact_commit +{} for {} steps ({:.3}/step; {:.3}/step net of {:.1} idle commits/s); \
         {:.2} SQL statements/step",
        result.commits.window.commits,
        result.steps,
        result.commits.per_step(result.steps),
        result.commits.net_per_step(result.steps),
        result.commits.idle_commits_per_sec,
        statements as f64 / result.steps as f64
    );
    if let Some(cpu) = &result.cpu {
        println!("  during the drain: {}", cpu.describe());
    }
    Ok(result)
}
