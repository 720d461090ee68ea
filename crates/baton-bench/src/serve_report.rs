//! The summary rows of the phases that spawn `baton serve` (serve, API, memory): the same on
//! both stores.

use crate::api::{Api, OPEN_LOOP_SHARE};
use crate::memory::{self, Memory};
use crate::serve::Serve;
use crate::table::{self, Row};

/// The targets.
const API_P99_TARGET_MS: f64 = 10.0;
const MEMORY_TARGET_MIB: f64 = 200.0;

/// Per-step overhead of `baton serve`, as a multiple of one commit and of the in-process
/// median (when the sequential phase ran).
pub fn serve_rows(serve: &Serve, commit_ms: f64, in_process_median_ms: Option<f64>) -> [Row; 2] {
    let median = serve.median_ms();
    let p99 = table::percentile(&serve.per_step_ms, 0.99);
    let ratio = in_process_median_ms.map_or_else(String::new, |in_process| {
        format!(" = {:.2}x in-process", median / in_process)
    });
    [
        (
            format!(
                "per-step, baton serve over HTTP, median of {}",
                serve.per_step_ms.len()
            ),
            format!("{median:.3} ms = {:.2}x commit{ratio}", median / commit_ms),
            "<= 1.5x".into(),
        ),
        (
            "per-step, baton serve over HTTP, p99".into(),
            format!("{p99:.3} ms = {:.2}x commit", p99 / commit_ms),
            String::new(),
        ),
    ]
}

/// The peak rate of GET /api/workflows/{id} and the p99 at 70% of it, while draining.
pub fn api_rows(api: &Api) -> [Row; 2] {
    let (peak, open) = (&api.peak, &api.open);
    let finished = |still_draining: bool| {
        if still_draining {
            ""
        } else {
            "; THE DRAIN HAD FINISHED"
        }
    };
    let p99 = open.percentile_ms(0.99);
    [
        (
            format!("GET /api/workflows/{{id}}, peak ({} clients)", api.clients),
            format!(
                "{:.0} req/s (p99 {:.2} ms; {} errors; drain {:.0} steps/s{})",
                peak.rate(),
                peak.percentile_ms(0.99),
                peak.errors,
                peak.steps_per_sec,
                finished(peak.still_draining)
            ),
            "reference".into(),
        ),
        (
            format!(
                "GET p99 at {:.0}% of peak ({:.0} req/s sent)",
                OPEN_LOOP_SHARE * 100.0,
                api.open_rate
            ),
            format!(
                "{p99:.2} ms (p50 {:.2}, max {:.2}; {} errors; drain {:.0} steps/s{})",
                open.percentile_ms(0.5),
                open.max_ms(),
                open.errors,
                open.steps_per_sec,
                finished(open.still_draining)
            ),
            format!("<= {API_P99_TARGET_MS:.0} ms"),
        ),
    ]
}

/// Resident size of `baton serve` with the backlog queued, and its growth while it drains.
pub fn memory_rows(memory: &Memory) -> [Row; 2] {
    let max = memory.max_mib();
    let (_, running) = memory.running();
    [
        (
            format!(
                "baton serve RSS, {} queued, {} workers",
                memory.backlog,
                memory::WORKERS
            ),
            format!(
                "start {:.1} MiB, max {max:.1}, end {:.1} (idle {:.1})",
                memory.start_mib(),
                memory.end_mib(),
                memory.idle_mib
            ),
            format!("< {MEMORY_TARGET_MIB:.0} MiB"),
        ),
        (
            format!("baton serve RSS growth, 2nd half of {:.0} s", memory.secs()),
            format!(
                "{:+.2} MiB/min ({running} running, {} of {} left, tasks {} ms)",
                memory.slope_mib_per_min(),
                memory.left(),
                memory.backlog,
                memory.task_ms
            ),
            "no growth (the issue's drain: 600 s)".into(),
        ),
    ]
}
