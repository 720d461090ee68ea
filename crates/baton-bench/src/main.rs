//! `baton-bench`: measures Baton against a calibration of its own store, taken in the same run
//! (DESIGN.md §7). `BENCH_DATABASE_URL` chooses the store:
//!
//! - `postgres://…` (default): pgbench's one-row UPDATE at 1 and 32 clients, then Baton's
//!   phases on scratch databases, commits counted from `pg_stat_database` (`postgres.rs`);
//! - `sqlite://<directory>`: a one-thread UPDATE commit loop on a file with Baton's pragmas
//!   (unbatched and batched), then the same phases on files in that directory (`on_sqlite.rs`).
//!
//! The phases: per-step overhead of a sequential workflow of no-op tasks (from the workflow's
//! own timestamps), in this process and against the shipped `baton serve` (a child process),
//! backlog throughput (how fast a fresh worker process drains queued one-task workflows),
//! fan-out throughput (one workflow over `BENCH_FAN_OUT` no-op elements, joined), the latency
//! of GET /api/workflows/{id} on a `baton serve` draining a backlog, the resident size of a
//! `baton serve` holding a large backlog, and the cost per step in commits (Postgres) or SQL
//! statements. `BENCH_PHASES` runs a subset.
//!
//! See README.md for the environment variables.

mod api;
mod app;
mod child;
mod cpu;
mod fan_out;
mod memory;
mod monitor;
mod on_sqlite;
mod pg_report;
mod pgbench;
mod phases;
mod poll;
mod postgres;
mod runs;
mod scrape;
mod scratch;
mod serve;
mod serve_report;
mod settings;
mod slow_http;
mod sqlite;
mod sqlite_report;
mod table;
mod target;

use crate::settings::Settings;
use crate::target::Target;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    if settings.phases.spawn_baton() {
        // Before the calibration, rather than minutes later.
        child::baton_binary(&settings)?;
    }
    match &settings.target {
        Target::Postgres { server_url } => postgres::main(&settings, server_url).await,
        Target::Sqlite { dir } => on_sqlite::main(&settings, dir).await,
    }
}
