//! A store of its own for one test — a Postgres database or a SQLite file in a temporary
//! directory — removed on `Drop`, and direct looks into it (what the API does not show).

use std::path::PathBuf;
use std::sync::Arc;

use uuid::Uuid;

use crate::{Backend, inspect_pg, inspect_sqlite};

pub use crate::inspect_pg::server_url;

/// The statement counting the rows of one of Baton's tables (the same on both stores).
pub(crate) fn count_sql(table: &str) -> &'static str {
    match table {
        "workflows" => "SELECT count(*) AS count FROM workflows",
        "tasks" => "SELECT count(*) AS count FROM tasks",
        "events" => "SELECT count(*) AS count FROM events",
        "documents" => "SELECT count(*) AS count FROM documents",
        "users" => "SELECT count(*) AS count FROM users",
        "api_keys" => "SELECT count(*) AS count FROM api_keys",
        "idempotency_keys" => "SELECT count(*) AS count FROM idempotency_keys",
        "secrets" => "SELECT count(*) AS count FROM secrets",
        "definitions" => "SELECT count(*) AS count FROM definitions",
        "schedules" => "SELECT count(*) AS count FROM schedules",
        "llm_calls" => "SELECT count(*) AS count FROM llm_calls",
        other => panic!("no table {other}"),
    }
}

/// A test's store. `url` is what `DATABASE_URL` is set to.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
    pub backend: Backend,
    /// The SQLite file's directory, removed when the last handle goes.
    dir: Option<Arc<tempfile::TempDir>>,
    /// Only the owner drops a Postgres database.
    owned: bool,
}

impl TestDatabase {
    /// A new store of the backend this run is given (`BATON_TEST_BACKEND`).
    pub fn new() -> Self {
        Backend::from_env().fresh_database()
    }

    /// Names a new Postgres database; the application creates it at startup, as in production.
    pub fn postgres() -> Self {
        let name = format!("baton_test_{}", Uuid::new_v4().simple());
        Self {
            url: format!("{}/{name}", server_url()),
            name,
            backend: Backend::Postgres,
            dir: None,
            owned: true,
        }
    }

    /// A SQLite file in a new temporary directory; the application creates the file.
    pub fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("baton_test_")
            .tempdir()
            .expect("a temporary directory");
        let path = dir.path().join("baton.db");
        Self {
            url: format!("sqlite://{}", path.display()),
            name: path.display().to_string(),
            backend: Backend::Sqlite,
            dir: Some(Arc::new(dir)),
            owned: true,
        }
    }

    /// Another handle on the same store, which does not remove it.
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            name: self.name.clone(),
            backend: self.backend,
            dir: self.dir.clone(),
            owned: false,
        }
    }

    fn sqlite_path(&self) -> PathBuf {
        PathBuf::from(self.name.clone())
    }

    /// Runs a synchronous SQLite look off the runtime.
    async fn on_sqlite<T: Send + 'static>(
        &self,
        look: impl FnOnce(PathBuf) -> T + Send + 'static,
    ) -> T {
        let path = self.sqlite_path();
        tokio::task::spawn_blocking(move || look(path))
            .await
            .expect("the SQLite look finished")
    }

    /// A digest of every row of the run tables: equal before and after means nothing changed.
    pub async fn snapshot(&self) -> String {
        match self.backend {
            Backend::Postgres => {
                inspect_pg::snapshot(&mut inspect_pg::connect(&self.url).await).await
            }
            Backend::Sqlite => self.on_sqlite(|p| inspect_sqlite::snapshot(&p)).await,
        }
    }

    /// Every row of the run tables and of `secrets`, as text: to look for what must not be
    /// stored in the clear.
    pub async fn dump(&self) -> String {
        match self.backend {
            Backend::Postgres => inspect_pg::dump(&mut inspect_pg::connect(&self.url).await).await,
            Backend::Sqlite => self.on_sqlite(|p| inspect_sqlite::dump(&p)).await,
        }
    }

    /// Rows in one of Baton's tables.
    pub async fn count(&self, table: &str) -> i64 {
        match self.backend {
            Backend::Postgres => {
                inspect_pg::count(&mut inspect_pg::connect(&self.url).await, table).await
            }
            Backend::Sqlite => {
                let table = table.to_owned();
                self.on_sqlite(move |p| inspect_sqlite::count(&p, &table))
                    .await
            }
        }
    }

    pub async fn force_workflow_status(&self, workflow_id: &str, status: &str) {
        match self.backend {
            Backend::Postgres => {
                let mut conn = inspect_pg::connect(&self.url).await;
                inspect_pg::force_workflow_status(&mut conn, workflow_id, status).await;
            }
            Backend::Sqlite => {
                let (id, status) = (workflow_id.to_owned(), status.to_owned());
                self.on_sqlite(move |p| inspect_sqlite::force_workflow_status(&p, &id, &status))
                    .await;
            }
        }
    }

    /// A workflow's events in order, as `(type, data)`.
    pub async fn events(&self, workflow_id: &str) -> Vec<(String, serde_json::Value)> {
        match self.backend {
            Backend::Postgres => {
                inspect_pg::events(&mut inspect_pg::connect(&self.url).await, workflow_id).await
            }
            Backend::Sqlite => {
                let id = workflow_id.to_owned();
                self.on_sqlite(move |p| inspect_sqlite::events(&p, &id))
                    .await
            }
        }
    }

    /// The data of every event of `event_type`, across workflows.
    pub async fn events_of_type(&self, event_type: &str) -> Vec<serde_json::Value> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = inspect_pg::connect(&self.url).await;
                inspect_pg::events_of_type(&mut conn, event_type).await
            }
            Backend::Sqlite => {
                let kind = event_type.to_owned();
                self.on_sqlite(move |p| inspect_sqlite::events_of_type(&p, &kind))
                    .await
            }
        }
    }

    pub async fn age_idempotency_keys(&self, hours: i32) {
        match self.backend {
            Backend::Postgres => {
                let mut conn = inspect_pg::connect(&self.url).await;
                inspect_pg::age_idempotency_keys(&mut conn, hours).await;
            }
            Backend::Sqlite => {
                self.on_sqlite(move |p| inspect_sqlite::age_idempotency_keys(&p, hours))
                    .await;
            }
        }
    }

    pub async fn hold_idempotency_key(&self, principal: Uuid, key: &str, fingerprint: &[u8]) {
        match self.backend {
            Backend::Postgres => {
                let mut conn = inspect_pg::connect(&self.url).await;
                inspect_pg::hold_idempotency_key(&mut conn, principal, key, fingerprint).await;
            }
            Backend::Sqlite => {
                let (key, print) = (key.to_owned(), fingerprint.to_vec());
                self.on_sqlite(move |p| {
                    inspect_sqlite::hold_idempotency_key(&p, principal, &key, &print)
                })
                .await;
            }
        }
    }

    pub async fn api_keys_text(&self) -> String {
        match self.backend {
            Backend::Postgres => {
                inspect_pg::api_keys_text(&mut inspect_pg::connect(&self.url).await).await
            }
            Backend::Sqlite => self.on_sqlite(|p| inspect_sqlite::api_keys_text(&p)).await,
        }
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.owned && self.backend == Backend::Postgres && !inspect_pg::drop_database(&self.url)
        {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}
