//! The summary of a SQLite run: each figure next to the SQLite calibration of the same run (a
//! phase that did not run has no row).

use crate::cpu;
use crate::on_sqlite::Results;
use crate::serve_report;
use crate::settings::Settings;
use crate::table::{self, Row};

pub fn print(settings: &Settings, results: &Results) {
    let mut rows: Vec<Row> = Vec::new();
    let seq = results.sequential.as_ref();
    let backlog = results.backlog.as_ref();
    if let Some(calibration) = &results.calibration {
        let (single, batched) = (calibration.single, calibration.batched);
        let commit_ms = single.ms_per_commit();
        rows.push((
            "sqlite 1 thread, 1 UPDATE/commit".into(),
            format!(
                "{:.0} commits/s = {commit_ms:.3} ms/commit",
                single.commits_per_sec()
            ),
            "reference (unbatched)".into(),
        ));
        rows.push((
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
        ));
        if let Some(seq) = seq {
            rows.extend(table::per_step_rows(&seq.per_step_ms, commit_ms));
        }
        if let Some(serve) = &results.serve {
            let in_process = seq.map(|seq| table::percentile(&seq.per_step_ms, 0.5));
            rows.extend(serve_report::serve_rows(serve, commit_ms, in_process));
        }
        if let Some(backlog) = backlog {
            let steps_per_sec = backlog.steps_per_sec();
            rows.push((
                format!("backlog drain ({} steps)", backlog.steps),
                format!(
                    "{steps_per_sec:.0} steps/s = {:.2}x unbatched, {:.2}x batched",
                    steps_per_sec / single.updates_per_sec(),
                    steps_per_sec / batched.updates_per_sec()
                ),
                ">= 0.5x batched".into(),
            ));
        }
        if let Some(fan_out) = &results.fan_out {
            rows.push((
                format!("fan-out ({} elements, joined)", fan_out.elements),
                format!(
                    "{:.0} elements/s = {:.2}x unbatched",
                    fan_out.elements_per_sec(),
                    fan_out.elements_per_sec() / single.updates_per_sec()
                ),
                String::new(),
            ));
        }
    }
    if seq.is_some() || backlog.is_some() {
        rows.push((
            "SQL statements/step, seq | backlog".into(),
            format!(
                "{} | {}",
                seq.map_or_else(
                    || "-".into(),
                    |s| format!("{:.2}", s.statements.net_per_step(s.steps))
                ),
                backlog.map_or_else(
                    || "-".into(),
                    |b| format!("{:.2}", b.statements.net_per_step(b.steps))
                )
            ),
            "net of the bench's polling".into(),
        ));
    }
    if let Some(seq) = seq {
        rows.push((
            "CPU busy (this proc+rest), seq".into(),
            cpu_shares(seq.cpu.as_ref()),
            String::new(),
        ));
    }
    if let Some(serve) = &results.serve {
        rows.push((
            "CPU busy (serve+bench+rest), serve".into(),
            child_shares(serve.cpu.as_ref()),
            String::new(),
        ));
    }
    if let Some(backlog) = backlog {
        rows.push((
            "CPU busy (this proc+rest), drain".into(),
            cpu_shares(backlog.cpu.as_ref()),
            String::new(),
        ));
    }
    if let Some(api) = &results.api {
        rows.extend(serve_report::api_rows(api));
        rows.push((
            "CPU busy (serve+bench+rest), api 70%".into(),
            child_shares(api.open.cpu.as_ref()),
            String::new(),
        ));
    }
    if let Some(memory) = &results.memory {
        rows.extend(serve_report::memory_rows(memory));
    }
    let backlog_times = backlog.map_or_else(String::new, |b| {
        format!(
            "; backlog created in {:.1} s, drained in {:.2} s, first to last finished_at \
             {:.2} s, {:.2} s wall",
            b.create_secs, b.drain_secs, b.span_secs, b.wall_secs
        )
    });
    println!(
        "\nsummary (SQLite calibration {} s per loop{backlog_times})",
        settings.seconds
    );
    table::print(rows);
    if seq.is_some() || backlog.is_some() {
        println!(
            "  (commits/step and WAL fsyncs/step are not measured on SQLite: it has no commit \
             counter such as pg_stat_database; SQL statements/step stands in for them)"
        );
    }
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

/// "busy% (baton serve + the bench's client + the rest)": SQLite runs inside `baton serve`.
fn child_shares(usage: Option<&cpu::Usage>) -> String {
    usage.map_or_else(
        || "n/a".to_owned(),
        |u| {
            format!(
                "{:.0}% ({:.0}+{:.0}+{:.0})",
                u.busy * 100.0,
                u.child * 100.0,
                u.this * 100.0,
                (u.busy - u.child - u.this).max(0.0) * 100.0
            )
        },
    )
}
