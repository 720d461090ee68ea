//! The summary of a Postgres run: each figure next to the pgbench calibration (a phase that
//! did not run has no row).

use crate::cpu;
use crate::postgres::Results;
use crate::serve_report;
use crate::settings::Settings;
use crate::table::{self, Row};

pub fn print(settings: &Settings, results: &Results) {
    let mut rows: Vec<Row> = Vec::new();
    let calibration = results.calibration.as_ref();
    let seq = results.sequential.as_ref();
    let backlog = results.backlog.as_ref();
    if let Some(calibration) = calibration {
        let commit_ms = calibration.single.ms_per_commit();
        rows.push((
            "pgbench 1 client".into(),
            format!(
                "{:.0} tps = {commit_ms:.3} ms/commit",
                calibration.single.tps
            ),
            "reference".into(),
        ));
        rows.push((
            format!("pgbench {} clients", calibration.concurrent.clients),
            format!("{:.0} tps", calibration.concurrent.tps),
            "reference".into(),
        ));
        if let Some(seq) = seq {
            rows.extend(table::per_step_rows(&seq.per_step_ms, commit_ms));
        }
        if let Some(serve) = &results.serve {
            let in_process = seq.map(|seq| table::percentile(&seq.per_step_ms, 0.5));
            rows.extend(serve_report::serve_rows(serve, commit_ms, in_process));
        }
        let concurrent_tps = calibration.concurrent.tps;
        if let Some(backlog) = backlog {
            rows.push((
                format!("backlog drain ({} steps)", backlog.steps),
                format!(
                    "{:.0} steps/s = {:.2}x pgbench",
                    backlog.steps_per_sec(),
                    backlog.steps_per_sec() / concurrent_tps
                ),
                ">= 2.0x".into(),
            ));
        }
        if let Some(fan_out) = &results.fan_out {
            rows.push((
                format!("fan-out ({} elements, joined)", fan_out.elements),
                format!(
                    "{:.0} elements/s = {:.2}x pgbench",
                    fan_out.elements_per_sec(),
                    fan_out.elements_per_sec() / concurrent_tps
                ),
                ">= 0.5x the backlog's rate".into(),
            ));
        }
    }
    if let Some(seq) = seq {
        rows.push((
            "commits/step, sequential".into(),
            format!(
                "{:.3} ({:.3} net of idle)",
                seq.commits.per_step(seq.steps),
                seq.commits.net_per_step(seq.steps)
            ),
            "<= 1".into(),
        ));
    }
    if let Some(backlog) = backlog {
        rows.push((
            "commits/step, backlog".into(),
            format!(
                "{:.3} ({:.3} net of idle)",
                backlog.commits.per_step(backlog.steps),
                backlog.commits.net_per_step(backlog.steps)
            ),
            "<= 0.05".into(),
        ));
    }
    if seq.is_some() || backlog.is_some() {
        let either = |seq_figure: Option<String>, backlog_figure: Option<String>| {
            format!(
                "{} | {}",
                seq_figure.unwrap_or_else(|| "-".into()),
                backlog_figure.unwrap_or_else(|| "-".into())
            )
        };
        rows.push((
            "WAL fsyncs/step, seq | backlog (cluster)".into(),
            either(
                seq.map(|s| format!("{:.3}", s.commits.wal_syncs_per_step(s.steps))),
                backlog.map(|b| format!("{:.3}", b.commits.wal_syncs_per_step(b.steps))),
            ),
            String::new(),
        ));
        rows.push((
            "SQL statements/step, seq | backlog".into(),
            either(
                seq.map(|s| format!("{:.2}", s.statements as f64 / s.steps as f64)),
                backlog.map(|b| format!("{:.2}", b.statements as f64 / b.steps as f64)),
            ),
            String::new(),
        ));
    }
    if let Some(seq) = seq {
        rows.push((
            "CPU busy (this proc+postgres+other), seq".into(),
            cpu_shares(seq.cpu.as_ref(), false),
            String::new(),
        ));
    }
    if let Some(serve) = &results.serve {
        rows.push((
            "CPU busy (serve+bench+postgres+other), serve".into(),
            cpu_shares(serve.cpu.as_ref(), true),
            String::new(),
        ));
    }
    if let Some(backlog) = backlog {
        rows.push((
            "CPU busy (this proc+postgres+other), drain".into(),
            cpu_shares(backlog.cpu.as_ref(), false),
            String::new(),
        ));
    }
    if let Some(api) = &results.api {
        rows.extend(serve_report::api_rows(api));
        rows.push((
            "CPU busy (serve+bench+postgres+other), api 70%".into(),
            cpu_shares(api.open.cpu.as_ref(), true),
            String::new(),
        ));
    }
    if let Some(memory) = &results.memory {
        rows.extend(serve_report::memory_rows(memory));
    }
    let backlog_times = backlog.map_or_else(String::new, |b| {
        format!(
            "; backlog created in {:.1} s, drained in {:.2} s, {:.2} s wall",
            b.create_secs, b.drain_secs, b.wall_secs
        )
    });
    println!(
        "\nsummary (pgbench {} s per run{backlog_times})",
        settings.seconds
    );
    table::print(rows);
}

/// "busy% (shares)": this process, postgres, the rest, with the watched child (`baton
/// serve`) first when `with_child`.
fn cpu_shares(usage: Option<&cpu::Usage>, with_child: bool) -> String {
    usage.map_or_else(
        || "n/a".to_owned(),
        |u| {
            let child = if with_child {
                format!("{:.0}+", u.child * 100.0)
            } else {
                String::new()
            };
            format!(
                "{:.0}% ({child}{:.0}+{:.0}+{:.0})",
                u.busy * 100.0,
                u.this * 100.0,
                u.postgres * 100.0,
                u.other * 100.0
            )
        },
    )
}
