//! The benchmark's knobs, read from `BENCH_*` environment variables.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::phases::Phases;
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
    /// `BENCH_PHASES`: the phases to run (all when unset).
    pub phases: Phases,
    /// `BENCH_BATON_BIN`: the `baton` executable the serve, API and memory phases spawn (unset:
    /// `baton` next to this executable).
    pub baton_bin: Option<PathBuf>,
    /// `BENCH_API_BACKLOG`: workflows queued for the drain the API phase measures under.
    pub api_backlog: usize,
    /// `BENCH_API_TASKS`: no-op tasks of each of them (steps enough to outlast both windows).
    pub api_tasks: usize,
    /// `BENCH_API_CLIENTS`: concurrent clients of the closed-loop (peak) window.
    pub api_clients: usize,
    /// `BENCH_API_SECONDS`: length of each API window (peak, then 70% of it).
    pub api_seconds: u64,
    /// `BENCH_MEMORY_BACKLOG`: workflows queued in the memory phase.
    pub memory_backlog: usize,
    /// `BENCH_MEMORY_TASK_MS`: how long the local HTTP server takes to answer each of their
    /// fetch tasks (so that 16 run and the rest wait).
    pub memory_task_ms: u64,
    /// `BENCH_MEMORY_SECONDS`: how long the resident size is sampled while the backlog drains.
    pub memory_seconds: u64,
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
            phases: Phases::parse(&var("BENCH_PHASES", String::new())?)?,
            baton_bin: var("BENCH_BATON_BIN", String::new())
                .map(|path| (!path.is_empty()).then(|| PathBuf::from(path)))?,
            api_backlog: var("BENCH_API_BACKLOG", 5_000)?,
            api_tasks: var("BENCH_API_TASKS", 10)?,
            api_clients: var("BENCH_API_CLIENTS", 16)?,
            api_seconds: var("BENCH_API_SECONDS", 5)?,
            memory_backlog: var("BENCH_MEMORY_BACKLOG", 10_000)?,
            memory_task_ms: var("BENCH_MEMORY_TASK_MS", 1_000)?,
            memory_seconds: var("BENCH_MEMORY_SECONDS", 60)?,
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
            || settings.api_backlog == 0
            || settings.api_tasks == 0
            || settings.api_clients == 0
            || settings.api_seconds == 0
            || settings.memory_backlog == 0
            || settings.memory_task_ms == 0
            || settings.memory_seconds == 0
        {
            bail!(
                "BENCH_SECONDS, BENCH_PGBENCH_CLIENTS, BENCH_RUNS, BENCH_TASKS, BENCH_WORKERS, \
                 BENCH_BACKLOG, BENCH_DRAIN_WORKERS, BENCH_CREATE_CONCURRENCY, \
                 BENCH_SQLITE_BATCH and the BENCH_API_* and BENCH_MEMORY_* numbers must be at \
                 least 1"
            );
        }
        if settings.memory_task_ms > 60_000 {
            bail!("BENCH_MEMORY_TASK_MS must be at most 60000 (one fetch's time-out is 30 s more)");
        }
        if !(1..=10_000).contains(&settings.fan_out) {
            bail!("BENCH_FAN_OUT must be between 1 and 10000 (Baton's limit per fan-out)");
        }
        if settings.tasks > 1_000 || settings.api_tasks > 1_000 {
            bail!(
                "BENCH_TASKS and BENCH_API_TASKS must be at most 1000 (Baton's limit per workflow)"
            );
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
