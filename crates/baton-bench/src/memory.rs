//! The memory phase: the resident size of `baton serve` (16 workers) while it holds
//! `BENCH_MEMORY_BACKLOG` queued workflows and drains them 16 at a time. Each workflow is one
//! fetch of the bench's slow loopback server, which answers after `BENCH_MEMORY_TASK_MS`, so 16
//! tasks run at once (the server counts them) and the rest wait. `VmRSS` is read from
//! `/proc/<pid>/status` once a second for `BENCH_MEMORY_SECONDS`.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior};

use crate::app;
use crate::child::{self, ServeConfig};
use crate::settings::Settings;
use crate::slow_http::SlowServer;

/// `BATON_WORKERS` of the measured process: the "16 running".
pub const WORKERS: usize = 16;

/// One reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the backlog was created.
    pub secs: f64,
    pub rss_mib: f64,
    /// Fetches waiting on the slow server: tasks running.
    pub running: usize,
}

/// Results of the memory phase.
pub struct Memory {
    pub backlog: usize,
    pub task_ms: u64,
    /// Resident size once ready, before any workflow existed.
    pub idle_mib: f64,
    /// From the end of the creation on; the first is the start.
    pub samples: Vec<Sample>,
    /// Tasks finished by the end of the sampling (the slow server's answers).
    pub answered: u64,
}

impl Memory {
    pub fn start_mib(&self) -> f64 {
        self.samples.first().map_or(f64::NAN, |s| s.rss_mib)
    }

    pub fn max_mib(&self) -> f64 {
        self.samples
            .iter()
            .map(|s| s.rss_mib)
            .fold(f64::NAN, f64::max)
    }

    pub fn end_mib(&self) -> f64 {
        self.samples.last().map_or(f64::NAN, |s| s.rss_mib)
    }

    pub fn secs(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| s.secs)
    }

    /// Growth over the second half of the sampling, in MiB per minute (least squares).
    pub fn slope_mib_per_min(&self) -> f64 {
        let half = self.secs() / 2.0;
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.secs >= half)
            .map(|s| (s.secs, s.rss_mib))
            .collect();
        slope(&points) * 60.0
    }

    /// Running tasks over the samples after the first: (fewest, median).
    pub fn running(&self) -> (usize, usize) {
        let mut running: Vec<usize> = self.samples.iter().skip(1).map(|s| s.running).collect();
        running.sort_unstable();
        let median = running.get(running.len() / 2).copied().unwrap_or(0);
        (running.first().copied().unwrap_or(0), median)
    }

    /// Workflows still waiting or running when the sampling ended.
    pub fn left(&self) -> u64 {
        (self.backlog as u64).saturating_sub(self.answered)
    }
}

/// Least-squares slope of `(x, y)` points (0 with fewer than two).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

/// `VmRSS` of process `pid`, in MiB.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path} (Linux only)"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))?;
    Ok(kib / 1024.0)
}

/// Spawns `baton serve` on the fresh store `database_url`, creates the backlog through it,
/// samples its resident size while it drains, and kills it.
pub async fn run(settings: &Settings, database_url: &str) -> anyhow::Result<Memory> {
    let task = Duration::from_millis(settings.memory_task_ms);
    let slow = SlowServer::start(task).await?;
    let client = app::http_client()?;
    let config = ServeConfig {
        database_url: database_url.to_owned(),
        workers: WORKERS,
        pool: WORKERS + 4,
        fetch_allow_private: true,
    };
    let mut served = child::spawn(settings, &client, &config).await?;
    let pid = served.pid();
    let idle_mib = rss_mib(pid)?;
    let body = json!({
        "name": "bench-memory", "input": {}, "start": true,
        "tasks": [{"type": "fetch", "input": {"url": slow.url},
                   "timeout_ms": settings.memory_task_ms + 30_000,
                   "retry": {"max_attempts": 1}}]
    });
    let created = Instant::now();
    app::create_many(
        &client,
        &served.base_url,
        body,
        settings.memory_backlog,
        settings.create_concurrency,
    )
    .await?;
    let create_secs = created.elapsed().as_secs_f64();
    println!(
        "  baton serve (pid {pid}, BATON_WORKERS={WORKERS}): {idle_mib:.1} MiB when ready; \
         {} workflows of one {} ms fetch created in {create_secs:.1} s ({} already done)",
        settings.memory_backlog,
        settings.memory_task_ms,
        slow.answered()
    );
    let samples = sample(&mut served, &slow, settings.memory_seconds).await?;
    served.stop().await?;
    let memory = Memory {
        backlog: settings.memory_backlog,
        task_ms: settings.memory_task_ms,
        idle_mib,
        samples,
        answered: slow.answered(),
    };
    let (fewest, median) = memory.running();
    println!(
        "  VmRSS over {:.0} s: start {:.1} MiB, max {:.1} MiB, end {:.1} MiB; {:+.2} MiB/min over \
         the second half",
        memory.secs(),
        memory.start_mib(),
        memory.max_mib(),
        memory.end_mib(),
        memory.slope_mib_per_min()
    );
    println!(
        "  tasks running at each sample: median {median}, fewest {fewest}; {} of {} workflows \
         done, {} left{}",
        memory.answered,
        memory.backlog,
        memory.left(),
        if memory.left() == 0 {
            " (THE BACKLOG DRAINED before the end: raise BENCH_MEMORY_BACKLOG or \
             BENCH_MEMORY_TASK_MS)"
        } else {
            ""
        }
    );
    Ok(memory)
}

/// Reads the child's resident size now and then once a second for `seconds`.
async fn sample(
    served: &mut child::Served,
    slow: &SlowServer,
    seconds: u64,
) -> anyhow::Result<Vec<Sample>> {
    let began = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut samples = Vec::new();
    for _ in 0..=seconds {
        ticks.tick().await;
        served.check_alive()?;
        samples.push(Sample {
            secs: began.elapsed().as_secs_f64(),
            rss_mib: rss_mib(served.pid())?,
            running: slow.waiting(),
        });
    }
    if samples.len() < 2 {
        bail!("too few samples of the resident size");
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_is_per_unit_of_x() {
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), 2.0);
        assert_eq!(slope(&[(0.0, 1.0)]), 0.0);
    }

    #[test]
    fn reads_this_process_resident_size() {
        assert!(rss_mib(std::process::id()).unwrap() > 0.0);
    }
}
