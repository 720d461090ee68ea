//! Calibration on SQLite: what this disk does with one-row UPDATE commits on a file with
//! Baton's pragmas, from one thread (the SQLite counterpart of pgbench at one client).
//!
//! Each commit is a `BEGIN IMMEDIATE` transaction, as every Baton write is. Two loops:
//! one UPDATE per commit (one durable commit, as one step is today), and `batch` UPDATEs per
//! commit (what a writer batching steps would reach).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

/// Rows of the table, as `pgbench -i -s 1` has in `pgbench_accounts`.
const ROWS: i64 = 100_000;

/// One calibration loop.
#[derive(Debug, Clone, Copy)]
pub struct Loop {
    pub updates_per_commit: usize,
    pub commits: u64,
    pub elapsed: Duration,
}

impl Loop {
    pub fn commits_per_sec(&self) -> f64 {
        self.commits as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn updates_per_sec(&self) -> f64 {
        self.commits_per_sec() * self.updates_per_commit as f64
    }

    /// Milliseconds per commit as the one thread sees them.
    pub fn ms_per_commit(&self) -> f64 {
        1_000.0 / self.commits_per_sec()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// One UPDATE per commit.
    pub single: Loop,
    /// `batch` UPDATEs per commit.
    pub batched: Loop,
}

/// Creates the table in `path` and runs both loops for `seconds` each, on a blocking thread.
pub async fn calibrate(path: PathBuf, seconds: u64, batch: usize) -> anyhow::Result<Calibration> {
    let duration = Duration::from_secs(seconds);
    tokio::task::spawn_blocking(move || {
        let mut conn = open(&path)?;
        create_table(&mut conn)?;
        let single = run(&mut conn, 1, duration)?;
        let batched = run(&mut conn, batch, duration)?;
        Ok(Calibration { single, batched })
    })
    .await
    .context("the SQLite calibration did not finish")?
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

/// A connection with the pragmas Baton sets on each of its connections (baton-sqlite's
/// `pool.rs`): busy timeout, WAL, `synchronous = FULL`, foreign keys.
fn open(path: &Path) -> anyhow::Result<SqliteConnection> {
    let url = path
        .to_str()
        .with_context(|| format!("the path {} is not valid UTF-8", path.display()))?;
    let mut conn = SqliteConnection::establish(url)
        .with_context(|| format!("cannot open the SQLite file {url}"))?;
    let busy_ms = baton_sqlite::SqliteConfig::default()
        .busy_timeout
        .as_millis();
    conn.batch_execute(&format!("PRAGMA busy_timeout = {busy_ms}"))?;
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    let mode: JournalMode = diesel::sql_query("PRAGMA journal_mode").get_result(&mut conn)?;
    if !mode.journal_mode.eq_ignore_ascii_case("wal") {
        bail!(
            "SQLite could not use write-ahead logging in {url} (journal mode {:?})",
            mode.journal_mode
        );
    }
    Ok(conn)
}

/// `ROWS` rows shaped like `pgbench_accounts` (an 84-character filler), in one transaction.
fn create_table(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    conn.batch_execute(
        "CREATE TABLE accounts (
             aid      INTEGER NOT NULL PRIMARY KEY,
             bid      INTEGER NOT NULL,
             abalance INTEGER NOT NULL,
             filler   TEXT    NOT NULL
         ) STRICT",
    )?;
    diesel::sql_query(
        "WITH RECURSIVE n(aid) AS (SELECT 1 UNION ALL SELECT aid + 1 FROM n WHERE aid < ?)
         INSERT INTO accounts (aid, bid, abalance, filler)
         SELECT aid, 1, 0, printf('%84s', '') FROM n",
    )
    .bind::<BigInt, _>(ROWS)
    .execute(conn)
    .context("cannot fill the calibration table")?;
    Ok(())
}

/// Commits `per_commit` UPDATEs of random rows per `BEGIN IMMEDIATE` transaction, for
/// `duration`.
fn run(conn: &mut SqliteConnection, per_commit: usize, duration: Duration) -> anyhow::Result<Loop> {
    let mut random = XorShift::seeded();
    let mut commits = 0;
    let started = Instant::now();
    while started.elapsed() < duration {
        conn.immediate_transaction(|conn| {
            for _ in 0..per_commit {
                let aid = 1 + (random.next_u64() % ROWS as u64) as i64;
                let updated =
                    diesel::sql_query("UPDATE accounts SET abalance = abalance + 1 WHERE aid = ?")
                        .bind::<BigInt, _>(aid)
                        .execute(conn)?;
                if updated != 1 {
                    bail!("the UPDATE of row {aid} changed {updated} rows");
                }
            }
            anyhow::Ok(())
        })?;
        commits += 1;
    }
    Ok(Loop {
        updates_per_commit: per_commit,
        commits,
        elapsed: started.elapsed(),
    })
}

/// xorshift64: random enough to pick rows, without a dependency.
struct XorShift(u64);

impl XorShift {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self(u64::from(nanos) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_commit_updates() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("calibration.db")).unwrap();
        create_table(&mut conn).unwrap();
        let batched = run(&mut conn, 4, Duration::from_millis(50)).unwrap();
        assert!(batched.commits > 0);
        assert_eq!(batched.updates_per_sec(), batched.commits_per_sec() * 4.0);
    }
}
