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
use diesel::sql_types::{BigInt, Text};
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

#[derive(QueryableByName)]
struct Violations {
    #[diesel(sql_type = BigInt)]
    violations: i64,
}

/// Runs the pending migrations on `conn`, all in one `BEGIN IMMEDIATE` transaction so that
/// processes opening the same file together migrate one at a time. Checks WAL took.
///
/// Foreign keys are off while they run, as SQLite's way of changing a table needs (a
/// migration that rebuilds a table drops the old one, which would otherwise delete the rows
/// referencing it): `PRAGMA foreign_keys` cannot change inside a transaction, so it is turned
/// off before and on again after, and `PRAGMA foreign_key_check` must find nothing before the
/// transaction commits.
pub(crate) fn migrate(conn: &mut SqliteConnection) -> anyhow::Result<usize> {
    let mode: JournalMode = diesel::sql_query("PRAGMA journal_mode").get_result(conn)?;
    if !mode.journal_mode.eq_ignore_ascii_case("wal") {
        bail!(
            "SQLite could not use write-ahead logging (journal mode {:?}); is the file on a \
             network file system?",
            mode.journal_mode
        );
    }
    conn.batch_execute("PRAGMA foreign_keys = OFF")?;
    let migrated = conn.immediate_transaction(|conn| {
        let applied = conn.run_pending_migrations(MIGRATIONS)?.len();
        let check: Violations =
            diesel::sql_query("SELECT count(*) AS violations FROM pragma_foreign_key_check")
                .get_result(conn)?;
        if check.violations > 0 {
            return Err(format!(
                "{} rows would break a foreign key (see PRAGMA foreign_key_check)",
                check.violations
            )
            .into());
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(applied)
    });
    let restored = conn.batch_execute("PRAGMA foreign_keys = ON");
    let applied = migrated.map_err(|err| anyhow::anyhow!("migration failed: {err}"))?;
    restored.context("cannot turn foreign keys back on after the migrations")?;
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
    use diesel::migration::{Migration, MigrationConnection, MigrationSource};
    use diesel::sqlite::Sqlite;

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
        assert_eq!(migrate(&mut conn).unwrap(), 8);
        assert_eq!(setting(&mut conn, "busy_timeout"), 1_234);
        assert_eq!(setting(&mut conn, "synchronous"), 2, "FULL");
        assert_eq!(setting(&mut conn, "foreign_keys"), 1);
        let mode: JournalMode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(mode.journal_mode, "wal");
        assert_eq!(migrate(&mut connector.open().unwrap()).unwrap(), 0);
    }

    /// The migrations up to (not including) the first of `version`'s, on `conn`.
    fn migrate_before(
        conn: &mut SqliteConnection,
        version: &str,
    ) -> Vec<Box<dyn Migration<Sqlite>>> {
        let mut migrations = MigrationSource::<Sqlite>::migrations(&MIGRATIONS).unwrap();
        migrations.sort_by(|a, b| a.name().version().cmp(&b.name().version()));
        let at = migrations
            .iter()
            .position(|m| m.name().version().to_string() == version)
            .unwrap();
        let rest = migrations.split_off(at);
        conn.setup().unwrap();
        for migration in &migrations {
            conn.run_migration(migration).unwrap();
        }
        rest
    }

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }

    fn indexes_of_tasks(conn: &mut SqliteConnection) -> Vec<Name> {
        diesel::sql_query(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'tasks' \
             ORDER BY name",
        )
        .load(conn)
        .unwrap()
    }

    const WORKFLOW: &str = "01900000-0000-7000-8000-000000000001";
    const TASKS: [&str; 3] = [
        "01900000-0000-7000-8000-000000000010",
        "01900000-0000-7000-8000-000000000011",
        "01900000-0000-7000-8000-000000000012",
    ];

    /// A file of the schema before task graphs, holding a running sequential workflow (its
    /// first task completed with a document and an event, the second running, the third
    /// pending): the migration refuses to run with foreign keys on; `migrate` runs it and
    /// keeps every row, index and cascade, and wires the workflow so that it runs on.
    #[test]
    fn the_task_graph_migration_keeps_the_rows_and_wires_started_workflows() {
        use baton_domain::{StepApplied, StepCommit, TaskStatus, WorkflowStatus};
        use diesel::prelude::*;
        use serde_json::json;

        use crate::schema::{documents, events, tasks, workflows};

        let dir = tempfile::tempdir().unwrap();
        let connector = Connector::new(&dir.path().join("b.db"), Duration::from_secs(1)).unwrap();
        let mut conn = connector.open().unwrap();
        let rest = migrate_before(&mut conn, "20261204000001");
        assert_eq!(
            rest.len(),
            5,
            "the task graph, fan-out, child workflows, definitions, schedules"
        );
        let [t0, t1, t2] = TASKS;
        let task = |id: &str, position: i32, status: &str, extra: &str| {
            format!(
                "INSERT INTO tasks (id, workflow_id, owner_id, position, key, type, input, status, \
                 attempt, max_attempts, backoff_initial_ms, backoff_max_ms, backoff_multiplier, \
                 timeout_ms, output, lease_owner, lease_expires_at) VALUES ('{id}', '{WORKFLOW}', \
                 '{WORKFLOW}', {position}, 'k{position}', 'transform', '{{}}', '{status}', 1, 1, \
                 1, 1, 1.0, 1000, {extra});"
            )
        };
        conn.batch_execute(&format!(
            "INSERT INTO workflows (id, owner_id, name, status, started_at) VALUES \
             ('{WORKFLOW}', '{WORKFLOW}', 'legacy', 'running', '2026-12-01T00:00:00.000Z');
             {}{}{}
             INSERT INTO events (workflow_id, task_id, type) VALUES ('{WORKFLOW}', '{t0}', \
             'task.completed');
             INSERT INTO documents (id, owner_id, collection, workflow_id, task_id, data) VALUES \
             ('{WORKFLOW}', '{WORKFLOW}', 'notes', '{WORKFLOW}', '{t0}', '{{}}');",
            task(t0, 0, "completed", r#"'{"n":0}', NULL, NULL"#),
            task(
                t1,
                1,
                "running",
                "NULL, 'legacy:token', '2999-01-01T00:00:00.000Z'"
            ),
            task(t2, 2, "pending", "NULL, NULL, NULL"),
        ))
        .unwrap();
        let indexes = indexes_of_tasks(&mut conn);

        let refused = conn.run_migration(&rest[0]).unwrap_err().to_string();
        assert!(
            refused.contains("foreign_keys = 0"),
            "refused with foreign keys on: {refused}"
        );
        assert_eq!(indexes_of_tasks(&mut conn), indexes);
        assert_eq!(migrate(&mut conn).unwrap(), 5);
        assert_eq!(setting(&mut conn, "foreign_keys"), 1, "on again");
        let mut expected = indexes;
        expected.extend(
            [
                "tasks_parent_element_key",
                "tasks_workflow_element_status_idx",
            ]
            .map(|name| Name {
                name: name.to_owned(),
            }),
        );
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            indexes_of_tasks(&mut conn),
            expected,
            "the same indexes, and fan-out's"
        );
        let count = |conn: &mut SqliteConnection| -> (i64, i64) {
            (
                events::table.count().get_result(conn).unwrap(),
                documents::table.count().get_result(conn).unwrap(),
            )
        };
        assert_eq!(count(&mut conn), (1, 1), "no row lost to a cascade");

        let wiring: Vec<(String, i32)> = tasks::table
            .order(tasks::position)
            .select((tasks::dependents, tasks::waiting_on))
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            wiring,
            [
                (format!("[\"{t1}\"]"), 0),
                (format!("[\"{t2}\"]"), 0),
                ("[]".to_owned(), 1),
            ]
        );
        let (unfinished, output_task): (i32, Option<String>) = workflows::table
            .select((workflows::unfinished, workflows::output_task))
            .first(&mut conn)
            .unwrap();
        assert_eq!((unfinished, output_task.as_deref()), (2, Some(t2)));

        // The running task completes: the next one is queued, then its completion completes
        // the workflow with its output.
        let claim = crate::claims::load(&mut conn, &[t1.to_owned()])
            .unwrap()
            .remove(0);
        assert_eq!(claim.dependents.len(), 1);
        let step = StepCommit::completed(&claim, json!({}), json!({"n": 1}), None, None);
        conn.immediate_transaction(|conn| crate::steps::apply(conn, &step))
            .unwrap();
        let tokens = [baton_domain::LeaseToken::new("w")];
        let last = conn
            .immediate_transaction(|conn| {
                crate::claims::claim_queued(conn, &tokens, Duration::from_secs(60))
            })
            .unwrap()
            .remove(0);
        assert_eq!(last.task.id.as_uuid().to_string(), t2);
        assert_eq!(last.dependents, []);
        let step = StepCommit::completed(&last, json!({}), json!({"n": 2}), None, None);
        let applied = conn
            .immediate_transaction(|conn| crate::steps::apply(conn, &step))
            .unwrap();
        assert_eq!(applied, StepApplied::Applied { next: None });
        let (status, output): (String, Option<String>) = workflows::table
            .select((workflows::status, workflows::output))
            .first(&mut conn)
            .unwrap();
        assert_eq!(status, WorkflowStatus::Completed.as_str());
        assert_eq!(output.as_deref(), Some(r#"{"n":2}"#));
        let done: Vec<String> = tasks::table.select(tasks::status).load(&mut conn).unwrap();
        assert!(done.iter().all(|s| s == TaskStatus::Completed.as_str()));

        // Deleting the workflow still cascades to its tasks, events and documents.
        diesel::delete(workflows::table).execute(&mut conn).unwrap();
        assert_eq!(count(&mut conn), (0, 0));
        assert_eq!(
            tasks::table.count().get_result::<i64>(&mut conn).unwrap(),
            0
        );
    }
}

#[cfg(test)]
mod fan_out_migration {
    use baton_domain::{
        LeaseToken, NewDocument, NewWorkflow, StepCommit, TaskDraft, TaskStatus, UserId,
    };
    use diesel::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::schema::{documents, events, tasks};

    fn claim(conn: &mut SqliteConnection) -> baton_domain::Claim {
        let tokens = [LeaseToken::new("w")];
        conn.immediate_transaction(|conn| {
            crate::claims::claim_queued(conn, &tokens, Duration::from_secs(60))
        })
        .unwrap()
        .remove(0)
    }

    /// A started workflow of one task of `task_type` fanning out to 3 elements, the first of
    /// them completed (with `document`, for a store task): the id of the parent.
    fn fanned_out(
        conn: &mut SqliteConnection,
        task_type: &str,
        input: serde_json::Value,
        document: bool,
    ) -> String {
        let new = NewWorkflow::new(
            UserId::generate(),
            "fan-out".into(),
            None,
            vec![TaskDraft {
                key: Some("p".into()),
                task_type: task_type.into(),
                input: Some(input),
                for_each: Some("{{ input.items }}".into()),
                ..TaskDraft::default()
            }],
        )
        .unwrap();
        let start = new.start().unwrap();
        conn.immediate_transaction(|conn| crate::workflows::create(conn, &new, Some(&start)))
            .unwrap();
        let parent = claim(conn);
        let items = vec![json!(0), json!(1), json!(2)];
        let step = StepCommit::expanded(&parent, items, None, None);
        conn.immediate_transaction(|conn| crate::steps::apply(conn, &step))
            .unwrap();
        let element = claim(conn);
        let document = document.then(|| NewDocument {
            id: uuid::Uuid::now_v7(),
            collection: "notes".into(),
            data: json!({}),
        });
        let step = StepCommit::completed(&element, json!({}), json!({}), document, None);
        conn.immediate_transaction(|conn| crate::steps::apply(conn, &step))
            .unwrap();
        crate::models::id_text(parent.task.id.as_uuid())
    }

    /// How many elements there are (with the fan-out's columns).
    fn elements(conn: &mut SqliteConnection) -> i64 {
        tasks::table
            .filter(tasks::parent_task_id.is_not_null())
            .count()
            .get_result(conn)
            .unwrap()
    }

    /// Reverted, fan-out refuses to lose a document an element wrote; without one, the
    /// elements go (their events kept as their parent's), the waiting parent is queued again,
    /// and the schema is as before (the fan-out's columns and indexes gone); migrated again,
    /// it is back.
    #[test]
    fn reverting_fan_out_keeps_the_history_and_requeues_the_parent() {
        let (mut conn, _dir) = crate::plans::migrated();
        let written = fanned_out(
            &mut conn,
            "store",
            json!({"collection": "notes", "document": {}}),
            true,
        );
        // Child workflows' migration first (then back: the store's code reads its columns).
        super::child_migration::revert(&mut conn);
        let refused = conn
            .revert_last_migration(MIGRATIONS)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("element_documents = 0"), "{refused}");
        assert_eq!(elements(&mut conn), 3, "nothing changed");
        assert_eq!(
            migrate(&mut conn).unwrap(),
            3,
            "child workflows, definitions and schedules again"
        );

        diesel::delete(tasks::table.find(&written))
            .execute(&mut conn)
            .unwrap();
        assert_eq!(elements(&mut conn), 0, "deleted with their parent");
        assert_eq!(
            documents::table
                .count()
                .get_result::<i64>(&mut conn)
                .unwrap(),
            0,
            "and their documents"
        );
        let parent = fanned_out(&mut conn, "transform", json!({"jq": "."}), false);
        let history: i64 = events::table.count().get_result(&mut conn).unwrap();
        super::child_migration::revert(&mut conn);
        conn.revert_last_migration(MIGRATIONS).unwrap();

        let (status, waiting_on): (String, i32) = tasks::table
            .find(&parent)
            .select((tasks::status, tasks::waiting_on))
            .first(&mut conn)
            .unwrap();
        assert_eq!(
            (status.as_str(), waiting_on),
            (TaskStatus::Queued.as_str(), 0)
        );
        let task_ids: Vec<Option<String>> = events::table
            .select(events::task_id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(task_ids.len() as i64, history, "every event kept");
        assert!(
            task_ids
                .iter()
                .all(|id| id.is_none() || id.as_deref() == Some(parent.as_str())),
            "the elements' events are their parent's: {task_ids:?}"
        );
        assert!(task_ids.iter().filter(|id| id.is_some()).count() >= 4);
        let ours: i64 = tasks::table.count().get_result(&mut conn).unwrap();
        assert_eq!(ours, 1, "the elements are gone");
        #[derive(QueryableByName)]
        struct Sql {
            #[diesel(sql_type = Text)]
            sql: String,
        }
        let schema: Vec<Sql> = diesel::sql_query(
            "SELECT sql FROM sqlite_schema WHERE tbl_name = 'tasks' AND sql IS NOT NULL",
        )
        .load(&mut conn)
        .unwrap();
        for sql in &schema {
            for gone in ["parent_task_id", "for_each", "element_index", "item"] {
                assert!(!sql.sql.contains(gone), "{gone} in {}", sql.sql);
            }
        }

        assert_eq!(
            migrate(&mut conn).unwrap(),
            4,
            "fan-out, child workflows, definitions, schedules again"
        );
        assert_eq!(elements(&mut conn), 0);
    }
}

#[cfg(test)]
mod child_migration {
    use baton_domain::{LeaseToken, NewDocument, NewWorkflow, StepCommit, TaskDraft, UserId};
    use diesel::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::schema::{documents, events, tasks, workflows};

    /// The child workflows' migration's version.
    const CHILD: &str = "20261206000001";

    /// Reverts the migrations after the child workflows' (definitions, schedules: they add
    /// tables and columns only), so that it is the last.
    pub(super) fn revert_later(conn: &mut SqliteConnection) {
        loop {
            let applied = conn.applied_migrations().unwrap();
            let last = applied.iter().map(ToString::to_string).max().unwrap();
            if last.as_str() <= CHILD {
                return;
            }
            conn.revert_last_migration(MIGRATIONS).unwrap();
        }
    }

    /// Reverts the child workflows' migration (after those that follow it), which rebuilds
    /// tasks: with foreign keys off, as `migrate` runs migrations, on again after.
    pub(super) fn revert(conn: &mut SqliteConnection) {
        revert_later(conn);
        conn.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
        let reverted = conn.revert_last_migration(MIGRATIONS).map(|_| ());
        conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
        reverted.unwrap();
    }

    fn started(conn: &mut SqliteConnection, draft: TaskDraft) -> NewWorkflow {
        let new = NewWorkflow::new(UserId::generate(), "w".into(), None, vec![draft]).unwrap();
        let start = new.start().unwrap();
        conn.immediate_transaction(|conn| crate::workflows::create(conn, &new, Some(&start)))
            .unwrap();
        new
    }

    fn counts(conn: &mut SqliteConnection) -> (i64, i64, i64) {
        (
            tasks::table.count().get_result(conn).unwrap(),
            events::table.count().get_result(conn).unwrap(),
            documents::table.count().get_result(conn).unwrap(),
        )
    }

    /// Reverting refuses to lose a `workflow` task (or to run with foreign keys on); without
    /// one, it keeps every task, event and document, and so does migrating again.
    #[test]
    fn the_child_workflows_migration_keeps_the_rows_both_ways() {
        let (mut conn, _dir) = crate::plans::migrated();
        started(
            &mut conn,
            TaskDraft {
                task_type: "store".into(),
                input: Some(json!({"collection": "notes", "document": {}})),
                ..TaskDraft::default()
            },
        );
        let tokens = [LeaseToken::new("w")];
        let claim = conn
            .immediate_transaction(|conn| {
                crate::claims::claim_queued(conn, &tokens, Duration::from_secs(60))
            })
            .unwrap()
            .remove(0);
        let document = NewDocument {
            id: uuid::Uuid::now_v7(),
            collection: "notes".into(),
            data: json!({}),
        };
        let step = StepCommit::completed(&claim, json!({}), json!({}), Some(document), None);
        conn.immediate_transaction(|conn| crate::steps::apply(conn, &step))
            .unwrap();
        let parent = started(
            &mut conn,
            TaskDraft {
                task_type: "workflow".into(),
                input: Some(json!({"tasks": [{"type": "transform", "input": {"jq": "."}}]})),
                ..TaskDraft::default()
            },
        );
        let before = counts(&mut conn);
        revert_later(&mut conn);

        let refused = conn
            .revert_last_migration(MIGRATIONS)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("foreign_keys = 0"), "{refused}");
        conn.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
        let refused = conn
            .revert_last_migration(MIGRATIONS)
            .unwrap_err()
            .to_string();
        conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
        assert!(refused.contains("workflow_tasks = 0"), "{refused}");
        assert_eq!(counts(&mut conn), before, "nothing changed");

        diesel::delete(workflows::table.find(crate::models::id_text(parent.id().as_uuid())))
            .execute(&mut conn)
            .unwrap();
        let kept = counts(&mut conn);
        assert_eq!(kept.2, 1);
        revert(&mut conn);
        assert_eq!(counts(&mut conn), kept, "no row lost to the rebuild");
        assert_eq!(
            migrate(&mut conn).unwrap(),
            3,
            "child workflows, definitions and schedules again"
        );
        assert_eq!(counts(&mut conn), kept, "nor to this one");
    }
}
