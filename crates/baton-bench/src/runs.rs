//! The sequential runs, driven entirely through the HTTP API: create a workflow of
//! `BENCH_TASKS` no-op tasks with `start: true`, GET it every `BENCH_POLL_MS` until it has
//! completed, then the next. Per-step overhead comes from the workflow's own timestamps.

use std::time::Duration;

use reqwest::Client;
use uuid::Uuid;

use crate::settings::Settings;
use crate::{app, poll};

/// The longest one run may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Measured runs, in order.
pub struct Runs {
    pub ids: Vec<Uuid>,
    /// GETs the completion polling made.
    pub gets: u64,
}

fn body(settings: &Settings) -> serde_json::Value {
    app::noop_workflow("bench-sequential", settings.tasks, true)
}

/// `BENCH_WARMUP` unmeasured runs.
pub async fn warm_up(client: &Client, base_url: &str, settings: &Settings) -> anyhow::Result<()> {
    let body = body(settings);
    for _ in 0..settings.warmup {
        let id = app::create(client, base_url, &body).await?;
        poll::wait_completed(client, base_url, id, settings.poll, RUN_LIMIT).await?;
    }
    Ok(())
}

/// `BENCH_RUNS` runs, each awaited before the next.
pub async fn measure(client: &Client, base_url: &str, settings: &Settings) -> anyhow::Result<Runs> {
    let body = body(settings);
    let mut runs = Runs {
        ids: Vec::with_capacity(settings.runs),
        gets: 0,
    };
    for _ in 0..settings.runs {
        let id = app::create(client, base_url, &body).await?;
        runs.gets += poll::wait_completed(client, base_url, id, settings.poll, RUN_LIMIT).await?;
        runs.ids.push(id);
    }
    Ok(runs)
}

/// Per-step overhead of each run, `(finished_at - started_at) / tasks` in ms, sorted.
pub async fn per_step_ms(
    client: &Client,
    base_url: &str,
    ids: &[Uuid],
    tasks: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut per_step_ms = Vec::with_capacity(ids.len());
    for id in ids {
        let run = app::finished(client, base_url, *id, tasks).await?;
        per_step_ms.push(run.duration().as_secs_f64() * 1_000.0 / tasks as f64);
    }
    per_step_ms.sort_by(f64::total_cmp);
    Ok(per_step_ms)
}
