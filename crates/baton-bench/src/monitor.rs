//! A direct connection to a bench database: progress checks and Postgres' own counters.
//!
//! Inside a measured window the monitor keeps one read-only READ COMMITTED transaction open:
//! each statement still sees the latest commits, but the monitor's polling adds no commit to
//! the database's `xact_commit` until the window is closed.

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

pub struct Monitor {
    conn: AsyncPgConnection,
    in_window: bool,
}

/// Cumulative counters read at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    /// `pg_stat_database.xact_commit` of the bench database.
    pub xact_commit: i64,
    /// `pg_stat_wal.wal_sync`: WAL fsyncs of the whole cluster.
    pub wal_sync: i64,
    /// When they were read (monotonic clock of this process).
    pub at: tokio::time::Instant,
}

impl Counters {
    pub fn since(&self, earlier: &Counters) -> Delta {
        Delta {
            commits: self.xact_commit - earlier.xact_commit,
            wal_syncs: self.wal_sync - earlier.wal_sync,
            elapsed: self.at.duration_since(earlier.at),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Delta {
    pub commits: i64,
    pub wal_syncs: i64,
    pub elapsed: Duration,
}

#[derive(QueryableByName)]
struct CountersRow {
    #[diesel(sql_type = BigInt)]
    xact_commit: i64,
    #[diesel(sql_type = BigInt)]
    wal_sync: i64,
}

#[derive(QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = Text)]
    status: String,
}

#[derive(QueryableByName)]
struct ProgressRow {
    #[diesel(sql_type = BigInt)]
    completed: i64,
    #[diesel(sql_type = BigInt)]
    unsuccessful: i64,
}

#[derive(QueryableByName)]
struct TimeRow {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    at: Option<DateTime<Utc>>,
}

impl Monitor {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let conn = AsyncPgConnection::establish(url)
            .await
            .context("cannot connect to the bench database")?;
        Ok(Self {
            conn,
            in_window: false,
        })
    }

    /// Opens the measured window (see the module's documentation).
    pub async fn open_window(&mut self) -> anyhow::Result<()> {
        self.conn
            .batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY")
            .await?;
        self.in_window = true;
        Ok(())
    }

    pub async fn close_window(&mut self) -> anyhow::Result<()> {
        if self.in_window {
            self.conn.batch_execute("COMMIT").await?;
            self.in_window = false;
        }
        Ok(())
    }

    /// The bench database's commits and the cluster's WAL fsyncs, as flushed so far by the
    /// backends (fresh values: the statistics snapshot is cleared first).
    pub async fn counters(&mut self) -> anyhow::Result<Counters> {
        diesel::sql_query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut self.conn)
            .await?;
        let row: CountersRow = diesel::sql_query(
            "SELECT (SELECT xact_commit FROM pg_stat_database
                      WHERE datname = current_database()) AS xact_commit,
                    (SELECT wal_sync FROM pg_stat_wal) AS wal_sync",
        )
        .get_result(&mut self.conn)
        .await
        .context("cannot read pg_stat_database / pg_stat_wal")?;
        Ok(Counters {
            xact_commit: row.xact_commit,
            wal_sync: row.wal_sync,
            at: tokio::time::Instant::now(),
        })
    }

    /// Waits until workflow `id` has completed, checking every `poll`.
    pub async fn wait_completed(
        &mut self,
        id: Uuid,
        poll: Duration,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let row: StatusRow = diesel::sql_query("SELECT status FROM workflows WHERE id = $1")
                .bind::<SqlUuid, _>(id)
                .get_result(&mut self.conn)
                .await
                .with_context(|| format!("cannot read the status of workflow {id}"))?;
            match row.status.as_str() {
                "completed" => return Ok(()),
                "failed" | "cancelled" => bail!("workflow {id} is {}", row.status),
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("workflow {id} did not complete within {limit:?}");
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Completed workflows, and failed or cancelled ones.
    pub async fn progress(&mut self) -> anyhow::Result<(i64, i64)> {
        let row: ProgressRow = diesel::sql_query(
            "SELECT count(*) FILTER (WHERE status = 'completed') AS completed,
                    count(*) FILTER (WHERE status IN ('failed', 'cancelled')) AS unsuccessful
               FROM workflows",
        )
        .get_result(&mut self.conn)
        .await?;
        Ok((row.completed, row.unsuccessful))
    }

    /// The database server's wall clock (not the transaction's start).
    pub async fn clock(&mut self) -> anyhow::Result<DateTime<Utc>> {
        let row: TimeRow = diesel::sql_query("SELECT clock_timestamp() AS at")
            .get_result(&mut self.conn)
            .await?;
        row.at.context("clock_timestamp() returned NULL")
    }

    /// When the last workflow finished.
    pub async fn last_finished(&mut self) -> anyhow::Result<DateTime<Utc>> {
        let row: TimeRow = diesel::sql_query("SELECT max(finished_at) AS at FROM workflows")
            .get_result(&mut self.conn)
            .await?;
        row.at.context("no workflow has finished")
    }
}
