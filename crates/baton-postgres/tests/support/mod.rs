//! A fresh database per test on the test server, shared by this crate's integration tests.

use baton_postgres::{PgConfig, PgStore, create_database_if_missing, run_migrations};

/// The server part of the test database URL (no database name).
pub fn server_url() -> String {
    std::env::var("BATON_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// A database of one test, dropped (with its connections) when the test ends.
pub struct Database {
    pub url: String,
}

impl Drop for Database {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop may run inside or outside a runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(baton_postgres::drop_database(&url)))
        })
        .join();
        if !matches!(dropped, Ok(Ok(Ok(())))) {
            eprintln!("warning: could not drop test database {}", self.url);
        }
    }
}

/// A store over a new, migrated database of its own (dropped with the returned guard).
pub async fn fresh_store() -> (PgStore, Database) {
    let name = format!("baton_conf_{}", uuid::Uuid::new_v4().simple());
    let database = Database {
        url: format!("{}/{name}", server_url()),
    };
    create_database_if_missing(&database.url)
        .await
        .unwrap_or_else(|err| panic!("create the test database {name}: {err:#}"));
    run_migrations(&database.url)
        .await
        .unwrap_or_else(|err| panic!("migrate the test database {name}: {err:#}"));
    let store = PgStore::connect(&PgConfig::new(&database.url))
        .unwrap_or_else(|err| panic!("connect to the test database {name}: {err:#}"));
    (store, database)
}

/// Whether the Postgres server answers; when it does not, the tests are skipped with one
/// message, unless `BATON_REQUIRE_POSTGRES=1` (CI) makes that a failure.
pub async fn available() -> bool {
    use diesel_async::AsyncConnection;
    static ANSWERS: tokio::sync::OnceCell<bool> = tokio::sync::OnceCell::const_new();
    *ANSWERS
        .get_or_init(|| async {
            let url = format!("{}/postgres", server_url());
            let connect = diesel_async::AsyncPgConnection::establish(&url);
            let answers = matches!(
                tokio::time::timeout(std::time::Duration::from_secs(3), connect).await,
                Ok(Ok(_))
            );
            if !answers {
                assert!(
                    std::env::var("BATON_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "BATON_REQUIRE_POSTGRES=1 but no Postgres answers at {}",
                    server_url()
                );
                eprintln!(
                    "note: the Postgres tests were not run: no Postgres answers at {} (start one, \
                     or set BATON_TEST_DATABASE_URL)",
                    server_url()
                );
            }
            answers
        })
        .await
}
