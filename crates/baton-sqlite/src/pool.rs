//! Connections: opening the file with Baton's pragmas, the bounded pool they live in, and the
//! embedded migrations.
//!
//! The pool is deadpool's (as for Postgres) over a small manager for diesel's synchronous
//! `SqliteConnection`: a caller waits for a connection asynchronously (bounded by the busy
//! timeout), then moves it onto Tokio's blocking pool for the SQLite calls (see `store.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use diesel::connection::{
    AnsiTransactionManager, Instrumentation, InstrumentationEvent, SimpleConnection,
    TransactionManager,
};
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations of `migrations/sqlite`, compiled in.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Counts the statements a connection sends, as Postgres's counter does: transaction control
/// (`BEGIN`, `COMMIT`, …, which SQLite needs around multi-statement reads) is not a statement of
/// the operation, so both stores report the same constant for the same work.
struct CountStatements(Arc<AtomicU64>);

/// The first few characters written to it; then it refuses more, ending the formatting.
#[derive(Default)]
struct Head(String);

impl std::fmt::Write for Head {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let room = 16usize.saturating_sub(self.0.len());
        self.0.extend(text.chars().take(room));
        if self.0.trim_start().len() >= 10 || self.0.len() >= 16 {
            Err(std::fmt::Error)
        } else {
            Ok(())
        }
    }
}

const TRANSACTION_CONTROL: [&str; 5] = ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"];

impl Instrumentation for CountStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            // Only the statement's first word is needed: formatting stops there, before the
            // binds (which may be whole JSON documents) are ever written.
            let mut head = Head::default();
            let _ = std::fmt::Write::write_fmt(&mut head, format_args!("{query}"));
            let head = head.0.trim_start();
            let control = TRANSACTION_CONTROL.iter().any(|word| {
                head.get(..word.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(word))
            });
            if !control {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// How connections to one file are opened.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    /// The file's absolute path, as SQLite opens it.
    url: String,
    busy_timeout: Duration,
}

impl Connector {
    /// Creates the file's parent directory when missing.
    pub(crate) fn new(path: &Path, busy_timeout: Duration) -> anyhow::Result<Self> {
        let absolute: PathBuf = std::path::absolute(path)
            .with_context(|| format!("cannot resolve the path {}", path.display()))?;
        if let Some(dir) = absolute.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        }
        let url = absolute
            .to_str()
            .with_context(|| format!("the path {} is not valid UTF-8", path.display()))?
            .to_owned();
        Ok(Self { url, busy_timeout })
    }

    /// A connection with Baton's pragmas: WAL (readers never wait for the writer), a busy
    /// timeout (a writer waits that long for another's lock, across processes too), foreign
    /// keys enforced (cascading deletes), and `synchronous = FULL` (a commit is on disk before
    /// it returns, so a step a client saw completed survives a power loss too).
    pub(crate) fn open(&self) -> anyhow::Result<SqliteConnection> {
        let mut conn = SqliteConnection::establish(&self.url)
            .with_context(|| format!("cannot open the SQLite file {}", self.url))?;
        // PRAGMAs take no bound parameters; the one value here is an integer, never text.
        let busy_ms = u64::try_from(self.busy_timeout.as_millis()).unwrap_or(u64::MAX);
        conn.batch_execute(&format!("PRAGMA busy_timeout = {busy_ms}"))?;
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .with_context(|| format!("cannot set up the SQLite file {}", self.url))?;
        Ok(conn)
    }

    /// A connection that counts its statements into `statements`.
    fn open_counted(&self, statements: Arc<AtomicU64>) -> anyhow::Result<SqliteConnection> {
        let mut conn = self.open()?;
        conn.set_instrumentation(CountStatements(statements));
        Ok(conn)
    }
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

/// Runs the pending migrations on `conn`, all in one `BEGIN IMMEDIATE` transaction so that
/// processes opening the same file together migrate one at a time. Checks WAL took.
pub(crate) fn migrate(conn: &mut SqliteConnection) -> anyhow::Result<usize> {
    let mode: JournalMode = diesel::sql_query("PRAGMA journal_mode").get_result(conn)?;
    if !mode.journal_mode.eq_ignore_ascii_case("wal") {
        bail!(
            "SQLite could not use write-ahead logging (journal mode {:?}); is the file on a \
             network file system?",
            mode.journal_mode
        );
    }
    let applied = conn
        .immediate_transaction(|conn| {
            conn.run_pending_migrations(MIGRATIONS)
                .map(|versions| versions.len())
        })
        .map_err(|err| anyhow::anyhow!("migration failed: {err}"))?;
    if applied > 0 {
        tracing::info!(applied, "ran SQLite migrations");
    }
    Ok(applied)
}

/// deadpool's manager of diesel SQLite connections.
pub(crate) struct Manager {
    pub(crate) connector: Connector,
    pub(crate) statements: Arc<AtomicU64>,
}

impl managed::Manager for Manager {
    type Type = SqliteConnection;
    type Error = anyhow::Error;

    async fn create(&self) -> anyhow::Result<SqliteConnection> {
        let connector = self.connector.clone();
        let statements = self.statements.clone();
        tokio::task::spawn_blocking(move || connector.open_counted(statements))
            .await
            .context("opening a connection panicked")?
    }

    /// A connection comes back outside any transaction (diesel commits or rolls back before
    /// returning); one that does not (its caller panicked mid-transaction) is closed, which
    /// rolls it back and frees the write lock.
    async fn recycle(
        &self,
        conn: &mut SqliteConnection,
        _: &Metrics,
    ) -> RecycleResult<anyhow::Error> {
        let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
        match status.transaction_depth() {
            Ok(None) => Ok(()),
            _ => Err(RecycleError::message("left inside a transaction")),
        }
    }
}

pub(crate) type Pool = managed::Pool<Manager>;

/// A pool of at most `size` connections, opened lazily; a caller waits at most `wait`.
pub(crate) fn build(manager: Manager, size: u32, wait: Duration) -> anyhow::Result<Pool> {
    managed::Pool::builder(manager)
        .max_size(usize::try_from(size.max(1)).unwrap_or(usize::MAX))
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(wait))
        .recycle_timeout(Some(wait))
        .build()
        .context("cannot build the SQLite connection pool")
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::BigInt;

    use super::*;

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }

    fn setting(conn: &mut SqliteConnection, pragma: &str) -> i64 {
        diesel::sql_query(format!("SELECT (SELECT * FROM pragma_{pragma}) AS value"))
            .get_result::<Setting>(conn)
            .unwrap()
            .value
    }

    #[test]
    fn connections_have_the_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let connector = Connector::new(
            &dir.path().join("x").join("b.db"),
            Duration::from_millis(1_234),
        )
        .unwrap();
        let mut conn = connector.open().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 3);
        assert_eq!(setting(&mut conn, "busy_timeout"), 1_234);
        assert_eq!(setting(&mut conn, "synchronous"), 2, "FULL");
        assert_eq!(setting(&mut conn, "foreign_keys"), 1);
        let mode: JournalMode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(mode.journal_mode, "wal");
        assert_eq!(migrate(&mut connector.open().unwrap()).unwrap(), 0);
    }
}
