//! Connecting: the database itself, its migrations and the pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::sql_types::{BigInt, Text};
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations of `migrations/postgres`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Key of the advisory lock held while migrating, so that instances starting together migrate
/// one at a time ("baton" in ASCII).
const MIGRATION_LOCK: i64 = 0x0062_6174_6f6e;

/// How to reach Postgres and how many connections to hold.
#[derive(Debug, Clone)]
pub struct PgConfig {
    pub url: String,
    pub max_connections: usize,
    /// How long a caller waits for a free connection (and for a new one to open).
    pub acquire_timeout: Duration,
    /// `statement_timeout` on every pooled connection: no statement (waiting for a lock
    /// included) holds its connection longer. `None`: the server's setting.
    pub statement_timeout: Option<Duration>,
}

impl PgConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
        }
    }
}

/// The URL's database name, and the same URL pointing at the `postgres` maintenance database.
fn split_database(url: &str) -> anyhow::Result<(String, String)> {
    let scheme_end = url
        .find("://")
        .context("DATABASE_URL must look like postgres://user@host:port/database")?;
    let after_scheme = scheme_end + 3;
    let path_start = url[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .context("DATABASE_URL names no database (postgres://user@host:port/database)")?;
    let (path, query) = match url[path_start + 1..].find('?') {
        Some(i) => (
            &url[path_start + 1..path_start + 1 + i],
            &url[path_start + 1 + i..],
        ),
        None => (&url[path_start + 1..], ""),
    };
    if path.is_empty() {
        bail!("DATABASE_URL names no database (postgres://user@host:port/database)");
    }
    let maintenance = format!("{}/postgres{query}", &url[..path_start]);
    Ok((path.to_owned(), maintenance))
}

#[derive(diesel::QueryableByName)]
struct Statement {
    #[diesel(sql_type = Text)]
    sql: String,
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Renders a statement that needs an identifier (which cannot be a bound parameter) with
/// Postgres' own `format('%I')` quoting, from a bound value.
async fn quoted_statement(
    conn: &mut AsyncPgConnection,
    template: &str,
    name: &str,
) -> anyhow::Result<String> {
    let statement: Statement = diesel::sql_query("SELECT format($1, $2) AS sql")
        .bind::<Text, _>(template)
        .bind::<Text, _>(name)
        .get_result(conn)
        .await?;
    Ok(statement.sql)
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> anyhow::Result<bool> {
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(name)
            .get_result(conn)
            .await?;
    Ok(row.exists)
}

/// Creates the database named in `url` when it does not exist yet.
pub async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let (name, maintenance) = split_database(url)?;
    let mut conn = AsyncPgConnection::establish(&maintenance)
        .await
        .context("cannot connect to Postgres")?;
    if database_exists(&mut conn, &name).await? {
        return Ok(());
    }
    let create = quoted_statement(&mut conn, "CREATE DATABASE %I", &name).await?;
    if let Err(err) = diesel::sql_query(create).execute(&mut conn).await {
        // Another instance may have created it in the meantime.
        if !database_exists(&mut conn, &name).await? {
            return Err(err).with_context(|| format!("cannot create database {name:?}"));
        }
    }
    tracing::info!(database = %name, "created the database");
    Ok(())
}

/// Drops the database named in `url`, closing its connections (used by the test harness).
pub async fn drop_database(url: &str) -> anyhow::Result<()> {
    let (name, maintenance) = split_database(url)?;
    let mut conn = AsyncPgConnection::establish(&maintenance).await?;
    let drop =
        quoted_statement(&mut conn, "DROP DATABASE IF EXISTS %I WITH (FORCE)", &name).await?;
    diesel::sql_query(drop).execute(&mut conn).await?;
    Ok(())
}

/// Runs the pending migrations under an advisory lock. Needs a multi-threaded Tokio runtime
/// (diesel's migration harness is synchronous and runs in `block_in_place`).
pub async fn run_migrations(url: &str) -> anyhow::Result<usize> {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .context("cannot connect to the database to migrate it")?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.len())
        .map_err(|err| anyhow::anyhow!("migration failed: {err}"));
    let mut conn = harness.into_inner();
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await?;
    let applied = applied?;
    if applied > 0 {
        tracing::info!(applied, "ran database migrations");
    }
    Ok(applied)
}

/// Counts the statements sent by every pooled connection.
struct CountStatements(Arc<AtomicU64>);

impl Instrumentation for CountStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sets the session's `statement_timeout` (in milliseconds), a bound value.
async fn set_statement_timeout(
    conn: &mut AsyncPgConnection,
    limit: Duration,
) -> diesel::QueryResult<()> {
    let ms = limit.as_millis().max(1).to_string();
    diesel::sql_query("SELECT set_config('statement_timeout', $1, false)")
        .bind::<Text, _>(ms)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A pool with explicit limits, whose connections count the statements they send.
pub(crate) fn build_pool(
    config: &PgConfig,
    statements: Arc<AtomicU64>,
) -> anyhow::Result<Pool<AsyncPgConnection>> {
    let statement_timeout = config.statement_timeout;
    let mut manager_config = ManagerConfig::default();
    // Checking out a connection sends nothing: a broken one fails its first query instead.
    manager_config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        &config.url,
        manager_config,
    );
    Pool::builder(manager)
        .max_size(config.max_connections.max(1))
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(config.acquire_timeout))
        .create_timeout(Some(config.acquire_timeout))
        .recycle_timeout(Some(config.acquire_timeout))
        .post_create(Hook::sync_fn(move |conn: &mut AsyncPgConnection, _| {
            conn.set_instrumentation(CountStatements(statements.clone()));
            Ok(())
        }))
        .post_create(Hook::async_fn(move |conn: &mut AsyncPgConnection, _| {
            Box::pin(async move {
                if let Some(limit) = statement_timeout {
                    set_statement_timeout(conn, limit)
                        .await
                        .map_err(|err| HookError::Backend(PoolError::QueryError(err)))?;
                }
                Ok(())
            })
        }))
        .build()
        .context("cannot build the connection pool")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_database_name() {
        let (name, maintenance) =
            split_database("postgres://postgres@127.0.0.1:5432/baton?sslmode=disable").unwrap();
        assert_eq!(name, "baton");
        assert_eq!(
            maintenance,
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
        );
        let (name, _) = split_database("postgres://u:p@h/db").unwrap();
        assert_eq!(name, "db");
        assert!(split_database("postgres://u@h:5432").is_err());
        assert!(split_database("postgres://u@h:5432/").is_err());
        assert!(split_database("nonsense").is_err());
    }
}
