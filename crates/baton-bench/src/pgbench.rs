//! Calibration: what this Postgres does with a one-row UPDATE per transaction.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::settings::Settings;

/// One row updated per transaction, as a workflow step updates its task.
const SCRIPT: &str = "\\set aid random(1, 100000)\n\
                      UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n";

#[derive(Debug, Clone, Copy)]
pub struct PgbenchRun {
    pub clients: usize,
    pub tps: f64,
    pub latency_ms: Option<f64>,
}

impl PgbenchRun {
    /// Milliseconds per commit as one client sees them.
    pub fn ms_per_commit(&self) -> f64 {
        1_000.0 / self.tps
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    pub single: PgbenchRun,
    pub concurrent: PgbenchRun,
}

/// Initialises a scale-1 pgbench database at `url` (created first) and runs the UPDATE script
/// at one client and at `pgbench_clients` clients.
pub async fn calibrate(settings: &Settings, url: &str) -> anyhow::Result<Calibration> {
    baton_postgres::drop_database(url).await?;
    baton_postgres::create_database_if_missing(url).await?;
    run(settings, &["-i", "-s", "1", "-q", url]).await?;
    let script = ScriptFile::write()?;
    let single = run_script(settings, url, &script, 1, 1).await?;
    println!(
        "  pgbench  1 client : {:>9.1} tps  ({:.3} ms/commit)",
        single.tps,
        single.ms_per_commit()
    );
    let clients = settings.pgbench_clients;
    let threads = clients.min(2);
    let concurrent = run_script(settings, url, &script, clients, threads).await?;
    println!(
        "  pgbench {clients:>2} clients: {:>9.1} tps  (latency average {} ms)",
        concurrent.tps,
        concurrent
            .latency_ms
            .map_or_else(|| "?".to_owned(), |ms| format!("{ms:.3}"))
    );
    Ok(Calibration { single, concurrent })
}

async fn run_script(
    settings: &Settings,
    url: &str,
    script: &ScriptFile,
    clients: usize,
    threads: usize,
) -> anyhow::Result<PgbenchRun> {
    let path = script.path.to_string_lossy().into_owned();
    let seconds = settings.seconds.to_string();
    let clients_arg = clients.to_string();
    let threads_arg = threads.to_string();
    let output = run(
        settings,
        &[
            "-n",
            "-f",
            &path,
            "-T",
            &seconds,
            "-c",
            &clients_arg,
            "-j",
            &threads_arg,
            url,
        ],
    )
    .await?;
    let tps = field(&output, "tps = ")
        .with_context(|| format!("no tps in pgbench's output:\n{output}"))?;
    if tps <= 0.0 {
        bail!("pgbench reported {tps} tps:\n{output}");
    }
    Ok(PgbenchRun {
        clients,
        tps,
        latency_ms: field(&output, "latency average = "),
    })
}

/// Runs pgbench and returns its standard output, or fails with everything it printed.
async fn run(settings: &Settings, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(&settings.pgbench)
        .args(args)
        .output()
        .await
        .with_context(|| format!("cannot run {} (BENCH_PGBENCH)", settings.pgbench))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "pgbench {} failed ({}):\n{stdout}\n{}",
            args.first().copied().unwrap_or_default(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// The number after `prefix` on the first line starting with it.
fn field(output: &str, prefix: &str) -> Option<f64> {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

/// The script in a temporary file, removed on drop.
struct ScriptFile {
    path: PathBuf,
}

impl ScriptFile {
    fn write() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "baton-bench-{}-{}.sql",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, SCRIPT)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn reads_pgbench_numbers() {
        let output = "number of failed transactions: 0 (0.000%)\n\
                      latency average = 1.724 ms\n\
                      initial connection time = 3.021 ms\n\
                      tps = 580.151911 (without initial connection time)\n";
        assert_eq!(field(output, "tps = "), Some(580.151911));
        assert_eq!(field(output, "latency average = "), Some(1.724));
        assert_eq!(field(output, "nothing = "), None);
    }
}
