//! The serve phase: the sequential runs of the in-process phase, against the shipped
//! `baton serve` in a process of its own (over loopback HTTP, with its own runtime, its
//! default logging into a file), so that what a user runs is measured next to the library.

use crate::child::{self, ServeConfig};
use crate::settings::Settings;
use crate::{app, cpu, runs, table};

/// Results of the sequential runs against `baton serve`.
pub struct Serve {
    /// Per-step overhead of each run, in ms, sorted.
    pub per_step_ms: Vec<f64>,
    pub cpu: Option<cpu::Usage>,
}

impl Serve {
    pub fn median_ms(&self) -> f64 {
        table::percentile(&self.per_step_ms, 0.5)
    }
}

/// Spawns `baton serve` on the fresh store `database_url`, runs the warm-up and the measured
/// runs through its API, and kills it.
pub async fn run(settings: &Settings, database_url: &str) -> anyhow::Result<Serve> {
    let client = app::http_client()?;
    let config = ServeConfig {
        database_url: database_url.to_owned(),
        workers: settings.workers,
        pool: 16,
        fetch_allow_private: false,
    };
    let mut served = child::spawn(settings, &client, &config).await?;
    let base_url = served.base_url.clone();
    println!(
        "  baton serve is ready at {base_url} (pid {}, {})",
        served.pid(),
        child::baton_binary(settings)?.display()
    );
    runs::warm_up(&client, &base_url, settings).await?;
    println!(
        "  {} warm-up runs done; completion is polled with GET /api/workflows/{{id}} every {} ms",
        settings.warmup,
        settings.poll.as_millis()
    );
    let cpu_before = cpu::sample_with(Some(served.pid()));
    let runs = runs::measure(&client, &base_url, settings).await?;
    let cpu = cpu::usage(cpu_before, cpu::sample_with(Some(served.pid())));
    let per_step_ms = runs::per_step_ms(&client, &base_url, &runs.ids, settings.tasks).await?;
    served.check_alive()?;
    served.stop().await?;
    let serve = Serve { per_step_ms, cpu };
    println!(
        "  per-step overhead over {} runs: median {:.3} ms, p99 {:.3} ms, min {:.3} ms",
        settings.runs,
        serve.median_ms(),
        table::percentile(&serve.per_step_ms, 0.99),
        serve.per_step_ms.first().copied().unwrap_or_default()
    );
    if let Some(cpu) = &serve.cpu {
        println!("  during the runs: {}", cpu.describe_with_child());
    }
    Ok(serve)
}
