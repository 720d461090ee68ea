//! The summary of a Postgres run: each figure next to the pgbench calibration.

use crate::cpu;
use crate::fan_out::FanOut;
use crate::pgbench::Calibration;
use crate::postgres::{Backlog, Sequential};
use crate::settings::Settings;
use crate::table;

pub fn print(
    settings: &Settings,
    calibration: &Calibration,
    seq: &Sequential,
    backlog: &Backlog,
    fan_out: &FanOut,
) {
    let commit_ms = calibration.single.ms_per_commit();
    let concurrent_tps = calibration.concurrent.tps;
    let mut rows: Vec<(String, String, String)> = vec![
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
            format!("backlog drain ({} steps)", backlog.steps),
            format!(
                "{:.0} steps/s = {:.2}x pgbench",
                backlog.steps_per_sec(),
                backlog.steps_per_sec() / concurrent_tps
            ),
            ">= 1.0x".into(),
        ),
        (
            format!("fan-out ({} elements, joined)", fan_out.elements),
            format!(
                "{:.0} elements/s = {:.2}x pgbench",
                fan_out.elements_per_sec(),
                fan_out.elements_per_sec() / concurrent_tps
            ),
            String::new(),
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
    // After the two calibration rows.
    rows.splice(2..2, table::per_step_rows(&seq.per_step_ms, commit_ms));
    table::print(rows);
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
