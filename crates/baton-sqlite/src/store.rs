//! The store: a file, a bounded pool of connections to it, and how calls reach SQLite without
//! blocking the async runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use baton_domain::ports::StoreError;
use diesel::{Connection, SqliteConnection};
use tokio::sync::Semaphore;

use crate::error::{SqlResult, from_pool};
use crate::pool::{self, Connector, Manager, Pool};

/// How many connections to hold and how long to wait for a busy database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteConfig {
    /// At most this many open connections (readers in parallel; writers take turns).
    pub max_connections: u32,
    /// How long a call waits for the write lock (held by this process or another) before it
    /// fails as unavailable.
    pub busy_timeout: Duration,
    /// How long a call waits for a free connection before it fails as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The SQLite store. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<PathBuf>,
    pool: Pool,
    /// This process's writers take turns here first, so they queue in order instead of
    /// polling SQLite's lock; other processes are kept out by `BEGIN IMMEDIATE`.
    writers: Arc<Semaphore>,
    busy_timeout: Duration,
    statements: Arc<AtomicU64>,
}

impl SqliteStore {
    /// Creates the file (and its parent directory) when missing, sets the pragmas, runs pending
    /// migrations.
    pub async fn open(path: impl AsRef<Path>, config: SqliteConfig) -> anyhow::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let connector = migrated(path.clone(), config.busy_timeout).await?.0;
        let statements = Arc::new(AtomicU64::new(0));
        let manager = Manager {
            connector,
            statements: statements.clone(),
        };
        let pool = pool::build(manager, config.max_connections, config.acquire_timeout)?;
        Ok(Self {
            path: Arc::new(path),
            pool,
            writers: Arc::new(Semaphore::new(1)),
            busy_timeout: config.busy_timeout,
            statements,
        })
    }

    /// The file, as given to [`open`](Self::open).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many SQL statements this store's connections have sent so far.
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Runs `f` on a pooled connection on the blocking pool, outside any transaction (one
    /// statement is its own snapshot).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> SqlResult<T> + Send + 'static,
    {
        let mut conn = self.pool.get().await.map_err(from_pool)?;
        blocking(move || f(&mut conn)).await
    }

    /// Runs `f` in a read transaction: its statements see one snapshot (a workflow and its
    /// tasks as of one commit).
    pub(crate) async fn snapshot<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> SqlResult<T> + Send + 'static,
    {
        self.read(|conn| conn.transaction(f)).await
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction (the write lock from its first statement, so
    /// claims are exclusive even across processes): committed when it returns `Ok`, rolled back
    /// otherwise.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> SqlResult<T> + Send + 'static,
    {
        let turn = tokio::time::timeout(self.busy_timeout, self.writers.clone().acquire_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable(anyhow::anyhow!(
                    "the database stayed busy for {:?}",
                    self.busy_timeout
                ))
            })?
            .map_err(|err| StoreError::Unavailable(err.into()))?;
        let mut conn = self.pool.get().await.map_err(from_pool)?;
        blocking(move || {
            let result = conn.immediate_transaction(f);
            drop(turn);
            result
        })
        .await
    }
}

/// Runs `f` on Tokio's blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> SqlResult<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(err) => Err(StoreError::Unknown(
            anyhow::Error::new(err).context("a SQLite call did not finish"),
        )),
    }
}

/// Opens `path` (creating it), sets the pragmas and runs the pending migrations; the connector
/// for further connections and how many migrations ran.
async fn migrated(path: PathBuf, busy_timeout: Duration) -> anyhow::Result<(Connector, usize)> {
    tokio::task::spawn_blocking(move || {
        let connector = Connector::new(&path, busy_timeout)?;
        let applied = pool::migrate(&mut connector.open()?)?;
        Ok((connector, applied))
    })
    .await?
}

/// Creates the file when missing and runs the pending migrations; how many ran.
pub async fn run_migrations(path: impl AsRef<Path>) -> anyhow::Result<usize> {
    let path = path.as_ref().to_path_buf();
    Ok(migrated(path, SqliteConfig::default().busy_timeout)
        .await?
        .1)
}
