//! The summary of a SQLite run: each figure next to the SQLite calibration of the same run.

use crate::cpu;
use crate::fan_out::FanOut;
use crate::on_sqlite::{Backlog, Sequential};
use crate::settings::Settings;
use crate::sqlite::Calibration;
use crate::table::{self, Row};

pub fn print(
    settings: &Settings,
    calibration: &Calibration,
    seq: &Sequential,
    backlog: &Backlog,
    fan_out: &FanOut,
) {
    let (single, batched) = (calibration.single, calibration.batched);
    let commit_ms = single.ms_per_commit();
    let steps_per_sec = backlog.steps_per_sec();
    let mut rows: Vec<Row> = vec![
        (
            "sqlite 1 thread, 1 UPDATE/commit".into(),
            format!(
                "{:.0} commits/s = {commit_ms:.3} ms/commit",
                single.commits_per_sec()
            ),
            "reference (unbatched)".into(),
        ),
        (
            format!(
                "sqlite 1 thread, {} UPDATEs/commit",
                batched.updates_per_commit
            ),
            format!(
                "{:.0} updates/s ({:.0} commits/s)",
                batched.updates_per_sec(),
                batched.commits_per_sec()
            ),
            "reference (batched)".into(),
        ),
        (
            format!("backlog drain ({} steps)", backlog.steps),
            format!(
                "{steps_per_sec:.0} steps/s = {:.2}x unbatched, {:.2}x batched",
                steps_per_sec / single.updates_per_sec(),
                steps_per_sec / batched.updates_per_sec()
            ),
            ">= 1.0x the loop batched as Baton batches (unbatched: Baton does not batch)".into(),
        ),
        (
            format!("fan-out ({} elements, joined)", fan_out.elements),
            format!(
                "{:.0} elements/s = {:.2}x unbatched",
                fan_out.elements_per_sec(),
                fan_out.elements_per_sec() / single.updates_per_sec()
            ),
            String::new(),
        ),
        (
            "SQL statements/step, seq | backlog".into(),
            format!(
                "{:.2} | {:.2}",
                seq.statements.net_per_step(seq.steps),
                backlog.statements.net_per_step(backlog.steps)
            ),
            "net of the bench's polling".into(),
        ),
        (
            "CPU busy (this proc+rest), seq".into(),
            cpu_shares(seq.cpu.as_ref()),
            String::new(),
        ),
        (
            "CPU busy (this proc+rest), drain".into(),
            cpu_shares(backlog.cpu.as_ref()),
            String::new(),
        ),
    ];
    println!(
        "\nsummary (SQLite calibration {} s per loop; backlog created in {:.1} s, drained in \
         {:.2} s, first to last finished_at {:.2} s, {:.2} s wall)",
        settings.seconds,
        backlog.create_secs,
        backlog.drain_secs,
        backlog.span_secs,
        backlog.wall_secs
    );
    // After the two calibration rows.
    rows.splice(2..2, table::per_step_rows(&seq.per_step_ms, commit_ms));
    table::print(rows);
    println!(
        "  (commits/step and WAL fsyncs/step are not measured on SQLite: it has no commit \
         counter such as pg_stat_database; SQL statements/step stands in for them)"
    );
}

/// "busy% (this process + the rest)": SQLite runs inside this process.
fn cpu_shares(usage: Option<&cpu::Usage>) -> String {
    usage.map_or_else(
        || "n/a".to_owned(),
        |u| {
            format!(
                "{:.0}% ({:.0}+{:.0})",
                u.busy * 100.0,
                u.this * 100.0,
                u.rest() * 100.0
            )
        },
    )
}
