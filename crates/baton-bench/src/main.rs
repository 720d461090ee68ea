//! `baton-bench`: measures Baton against pgbench on the same Postgres (DESIGN.md §7).
//!
//! 1. calibration: pgbench's one-row UPDATE at 1 client and at 32 clients;
//! 2. per-step overhead of a sequential workflow of no-op tasks, from the database's timestamps;
//! 3. backlog throughput: how fast a fresh worker process drains queued one-task workflows;
//! 4. commits per step, from `pg_stat_database.xact_commit` of the bench database.
//!
//! See README.md for the environment variables.

mod app;
mod cpu;
mod monitor;
mod pgbench;
mod settings;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::monitor::{Delta, Monitor};
use crate::pgbench::Calibration;
use crate::settings::Settings;

const PGBENCH_DATABASE: &str = "baton_bench_pgbench";
const SEQUENTIAL_DATABASE: &str = "baton_bench_sequential";
const BACKLOG_DATABASE: &str = "baton_bench_backlog";
const DATABASES: [&str; 3] = [PGBENCH_DATABASE, SEQUENTIAL_DATABASE, BACKLOG_DATABASE];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let result = run(&settings).await;
    let mut cleanup = Ok(());
    for name in DATABASES {
        if let Err(err) = baton_postgres::drop_database(&settings.database_url(name)).await {
            eprintln!("warning: cannot drop database {name}: {err:#}");
            cleanup = Err(err);
        }
    }
    result?;
    cleanup
}

async fn run(settings: &Settings) -> anyhow::Result<()> {
    println!(
        "baton-bench on {} (BENCH_SECONDS={}, {} CPUs)",
        settings.server_url,
        settings.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("\n[1/3] calibration with pgbench (1-row UPDATE per transaction)");
    let calibration =
        pgbench::calibrate(settings, &settings.database_url(PGBENCH_DATABASE)).await?;

    println!(
        "\n[2/3] per-step overhead: {} runs of a {}-task sequential no-op workflow \
         (BATON_WORKERS={})",
        settings.runs, settings.tasks, settings.workers
    );
    let sequential = sequential(settings, &settings.database_url(SEQUENTIAL_DATABASE)).await?;

    println!(
        "\n[3/3] backlog: {} one-task workflows drained by a fresh app (BATON_WORKERS={})",
        settings.backlog, settings.drain_workers
    );
    let backlog = backlog(settings, &settings.database_url(BACKLOG_DATABASE)).await?;

    report(settings, &calibration, &sequential, &backlog);
    Ok(())
}

/// Results of the sequential runs.
struct Sequential {
    /// Per-step overhead of each run, in ms, sorted.
    per_step_ms: Vec<f64>,
    steps: usize,
    commits: Commits,
    statements: u64,
    cpu: Option<cpu::Usage>,
}

/// Commits (and WAL fsyncs) counted over a window, and an estimate of the idle background
/// (the claim loop's polling, other clients of the cluster) over the same time.
struct Commits {
    window: Delta,
    idle_commits_per_sec: f64,
    idle_wal_syncs_per_sec: f64,
    /// The part of the window during which the engine was idle.
    idle_time: Duration,
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

    fn per_step(&self, steps: usize) -> f64 {
        self.window.commits as f64 / steps as f64
    }

    fn net_per_step(&self, steps: usize) -> f64 {
        let idle = self.idle_commits_per_sec * self.idle_time.as_secs_f64();
        (self.window.commits as f64 - idle) / steps as f64
    }

    fn wal_syncs_per_step(&self, steps: usize) -> f64 {
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
        percentile(&per_step_ms, 0.5),
        percentile(&per_step_ms, 0.99),
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
struct Backlog {
    steps: usize,
    create_secs: f64,
    drain_secs: f64,
    wall_secs: f64,
    commits: Commits,
    statements: u64,
    cpu: Option<cpu::Usage>,
}

impl Backlog {
    fn steps_per_sec(&self) -> f64 {
        self.steps as f64 / self.drain_secs
    }
}

async fn backlog(settings: &Settings, url: &str) -> anyhow::Result<Backlog> {
    baton_postgres::drop_database(url).await?;
    // Serves the API only: what it creates stays queued.
    let api = app::start(url, 0, 16).await?;
    let client = app::http_client()?;
    let created = Instant::now();
    create_backlog(settings, &client, &api.base_url).await?;
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

/// POSTs `backlog` one-task workflows with `start: true` from `create_concurrency` clients.
async fn create_backlog(
    settings: &Settings,
    client: &reqwest::Client,
    base_url: &str,
) -> anyhow::Result<()> {
    let body = Arc::new(app::noop_workflow("bench-backlog", 1, true));
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = JoinSet::new();
    for _ in 0..settings.create_concurrency {
        let (client, base_url, body, next) = (
            client.clone(),
            base_url.to_owned(),
            body.clone(),
            next.clone(),
        );
        let total = settings.backlog;
        clients.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                app::create(&client, &base_url, &body).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = clients.join_next().await {
        done??;
    }
    Ok(())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(settings: &Settings, calibration: &Calibration, seq: &Sequential, backlog: &Backlog) {
    let commit_ms = calibration.single.ms_per_commit();
    let median = percentile(&seq.per_step_ms, 0.5);
    let p99 = percentile(&seq.per_step_ms, 0.99);
    let concurrent_tps = calibration.concurrent.tps;
    let rows: Vec<(String, String, String)> = vec![
        (
            "pgbench 1 client".into(),
            format!(
                "{:.0} tps = {commit_ms:.3} ms/commit",
                calibration.single.tps
            ),
            "reference".into(),
        ),
        (
            format!("pgbench {} clients", calibration.concurrent.clients),
            format!("{concurrent_tps:.0} tps"),
            "reference".into(),
        ),
        (
            format!("per-step overhead, median of {}", seq.per_step_ms.len()),
            format!("{median:.3} ms = {:.2}x commit", median / commit_ms),
            "<= 1.5x".into(),
        ),
        (
            "per-step overhead, p99 (nearest rank)".into(),
            format!("{p99:.3} ms = {:.2}x commit", p99 / commit_ms),
            String::new(),
        ),
        (
            format!("backlog drain ({} steps)", backlog.steps),
            format!(
                "{:.0} steps/s = {:.2}x pgbench",
                backlog.steps_per_sec(),
                backlog.steps_per_sec() / concurrent_tps
            ),
            ">= 1.0x".into(),
        ),
        (
            "commits/step, sequential".into(),
            format!(
                "{:.3} ({:.3} net of idle)",
                seq.commits.per_step(seq.steps),
                seq.commits.net_per_step(seq.steps)
            ),
            "1".into(),
        ),
        (
            "commits/step, backlog".into(),
            format!(
                "{:.3} ({:.3} net of idle)",
                backlog.commits.per_step(backlog.steps),
                backlog.commits.net_per_step(backlog.steps)
            ),
            "1".into(),
        ),
        (
            "WAL fsyncs/step, seq | backlog (cluster)".into(),
            format!(
                "{:.3} | {:.3}",
                seq.commits.wal_syncs_per_step(seq.steps),
                backlog.commits.wal_syncs_per_step(backlog.steps)
            ),
            String::new(),
        ),
        (
            "SQL statements/step, seq | backlog".into(),
            format!(
                "{:.2} | {:.2}",
                seq.statements as f64 / seq.steps as f64,
                backlog.statements as f64 / backlog.steps as f64
            ),
            String::new(),
        ),
        (
            "CPU busy (this proc+postgres+other), seq".into(),
            cpu_shares(seq.cpu.as_ref()),
            String::new(),
        ),
        (
            "CPU busy (this proc+postgres+other), drain".into(),
            cpu_shares(backlog.cpu.as_ref()),
            String::new(),
        ),
    ];
    println!(
        "\nsummary (pgbench {} s per run; backlog created in {:.1} s, drained in {:.2} s, \
         {:.2} s wall)",
        settings.seconds, backlog.create_secs, backlog.drain_secs, backlog.wall_secs
    );
    let width = rows
        .iter()
        .map(|(name, _, _)| name.len())
        .max()
        .unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|(_, value, _)| value.len())
        .max()
        .unwrap_or(0);
    println!("  {:<width$}  {:<value_width$}  target", "metric", "value");
    for (name, value, target) in rows {
        println!("  {name:<width$}  {value:<value_width$}  {target}");
    }
}

fn cpu_shares(usage: Option<&cpu::Usage>) -> String {
    usage.map_or_else(
        || "n/a".to_owned(),
        |u| {
            format!(
                "{:.0}% ({:.0}+{:.0}+{:.0})",
                u.busy * 100.0,
                u.this * 100.0,
                u.postgres * 100.0,
                u.other * 100.0
            )
        },
    )
}
