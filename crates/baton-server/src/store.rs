//! The store Baton runs on, as `DATABASE_URL` chose it, and how this process hears signals with
//! it: Postgres spans instances (LISTEN/NOTIFY); SQLite is one process's (in-process signals).

use std::sync::Arc;

use baton_domain::ports::{
    DefinitionStore, DocumentStore, EventLog, IdempotencyStore, LocalSignals, ScheduleStore,
    SecretStore, Signals, TaskQueue, UserStore, WorkflowStore,
};
use baton_postgres::{PgConfig, PgSignals, PgStore};
use baton_sqlite::{SqliteConfig, SqliteStore};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::store_location::StoreLocation;

/// Every port a store gives the server.
pub trait Backend:
    WorkflowStore
    + TaskQueue
    + EventLog
    + DocumentStore
    + UserStore
    + IdempotencyStore
    + SecretStore
    + DefinitionStore
    + ScheduleStore
    + Clone
{
}

impl<T> Backend for T where
    T: WorkflowStore
        + TaskQueue
        + EventLog
        + DocumentStore
        + UserStore
        + IdempotencyStore
        + SecretStore
        + DefinitionStore
        + ScheduleStore
        + Clone
{
}

/// The open store.
#[derive(Clone)]
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Store {
    /// Creates the database or file when missing and runs pending migrations (Postgres: under an
    /// advisory lock, so instances may start together), then opens it.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        match &config.store {
            StoreLocation::Postgres(_) => {
                let url = config.store.postgres_url().unwrap_or_default();
                baton_postgres::create_database_if_missing(url).await?;
                baton_postgres::run_migrations(url).await?;
                Ok(Self::Postgres(PgStore::connect(&PgConfig {
                    max_connections: config.db_pool_size,
                    acquire_timeout: config.db_acquire_timeout,
                    statement_timeout: config.db_statement_timeout,
                    ..PgConfig::new(url)
                })?))
            }
            StoreLocation::Sqlite(path) => Ok(Self::Sqlite(
                SqliteStore::open(
                    path,
                    SqliteConfig {
                        max_connections: u32::try_from(config.db_pool_size).unwrap_or(u32::MAX),
                        acquire_timeout: config.db_acquire_timeout,
                        ..SqliteConfig::default()
                    },
                )
                .await?,
            )),
        }
    }

    /// How many SQL statements this store's connections have sent so far.
    pub fn statements_executed(&self) -> u64 {
        match self {
            Self::Postgres(store) => store.statements_executed(),
            Self::Sqlite(store) => store.statements_executed(),
        }
    }

    /// This process's signals, and the task that listens for other instances' (Postgres).
    pub(crate) fn signals(&self, config: &Config) -> (Arc<dyn Signals>, Option<JoinHandle<()>>) {
        match (self, config.store.postgres_url()) {
            (Self::Postgres(_), Some(url)) => {
                let signals = PgSignals::new();
                let listener = signals.listen(url.to_owned());
                (signals, Some(listener))
            }
            _ => (Arc::new(LocalSignals::new()), None),
        }
    }
}
