//! The benchmark's knobs, read from `BENCH_*` environment variables.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::target::Target;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `BENCH_DATABASE_URL`: the Postgres server (no database name) or `sqlite://<directory>`.
    pub target: Target,
    /// `BENCH_PGBENCH`: the pgbench executable.
    pub pgbench: String,
    /// `BENCH_SECONDS`: duration of each calibration run (pgbench, or the SQLite loops).
    pub seconds: u64,
    /// `BENCH_PGBENCH_CLIENTS`: clients of the concurrent pgbench run.
    pub pgbench_clients: usize,
    /// `BENCH_RUNS`: measured runs of the sequential workflow.
    pub runs: usize,
    /// `BENCH_WARMUP`: unmeasured runs before them.
    pub warmup: usize,
    /// `BENCH_TASKS`: tasks of the sequential workflow.
    pub tasks: usize,
    /// `BENCH_WORKERS`: BATON_WORKERS of the app running the sequential workflows.
    pub workers: usize,
    /// `BENCH_BACKLOG`: one-task workflows in the backlog.
    pub backlog: usize,
    /// `BENCH_DRAIN_WORKERS`: BATON_WORKERS of the app draining the backlog.
    pub drain_workers: usize,
    /// `BENCH_CREATE_CONCURRENCY`: concurrent POSTs creating the backlog.
    pub create_concurrency: usize,
    /// `BENCH_POLL_MS`: how often a sequential run is checked for completion.
    pub poll: Duration,
    /// `BENCH_STATS_SETTLE_MS`: wait for backends to flush their statistics (Postgres may hold
    /// them up to 10 s in an idle backend).
    pub settle: Duration,
    /// `BENCH_SQLITE_BATCH`: UPDATEs per commit of the batched SQLite calibration loop.
    pub sqlite_batch: usize,
    /// `BENCH_FAN_OUT`: elements of the fan-out workflow (at most 10,000).
    pub fan_out: usize,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let settings = Self {
            target: Target::parse(&var(
                "BENCH_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432".to_owned(),
            )?)?,
            pgbench: var("BENCH_PGBENCH", "pgbench".to_owned())?,
            seconds: var("BENCH_SECONDS", 10)?,
            pgbench_clients: var("BENCH_PGBENCH_CLIENTS", 32)?,
            runs: var("BENCH_RUNS", 20)?,
            warmup: var("BENCH_WARMUP", 2)?,
            tasks: var("BENCH_TASKS", 40)?,
            workers: var("BENCH_WORKERS", 16)?,
            backlog: var("BENCH_BACKLOG", 10_000)?,
            drain_workers: var("BENCH_DRAIN_WORKERS", 16)?,
            create_concurrency: var("BENCH_CREATE_CONCURRENCY", 32)?,
            poll: Duration::from_millis(var("BENCH_POLL_MS", 2)?),
            settle: Duration::from_millis(var("BENCH_STATS_SETTLE_MS", 12_000)?),
            sqlite_batch: var("BENCH_SQLITE_BATCH", 16)?,
            fan_out: var("BENCH_FAN_OUT", 1_000)?,
        };
        if settings.seconds == 0
            || settings.pgbench_clients == 0
            || settings.runs == 0
            || settings.tasks == 0
            || settings.workers == 0
            || settings.backlog == 0
            || settings.drain_workers == 0
            || settings.create_concurrency == 0
            || settings.sqlite_batch == 0
        {
            bail!(
                "BENCH_SECONDS, BENCH_PGBENCH_CLIENTS, BENCH_RUNS, BENCH_TASKS, BENCH_WORKERS, \
                 BENCH_BACKLOG, BENCH_DRAIN_WORKERS, BENCH_CREATE_CONCURRENCY and \
                 BENCH_SQLITE_BATCH must be at least 1"
            );
        }
        if !(1..=10_000).contains(&settings.fan_out) {
            bail!("BENCH_FAN_OUT must be between 1 and 10000 (Baton's limit per fan-out)");
        }
        if settings.tasks > 1_000 {
            bail!("BENCH_TASKS must be at most 1000 (Baton's limit per workflow)");
        }
        Ok(settings)
    }
}

fn var<T>(name: &str, default: T) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .with_context(|| format!("{name} is invalid (got {value:?})")),
        _ => Ok(default),
    }
}
