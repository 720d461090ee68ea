//! Test support: how SQLite plans a query on a migrated (empty) file, as `EXPLAIN QUERY PLAN`
//! reports it, to check that a query reads the index it was written for.

use std::time::Duration;

use diesel::query_builder::QueryFragment;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use tempfile::TempDir;

use crate::pool::{Connector, migrate};

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// A connection to a migrated file in a temporary directory (removed with the guard).
pub(crate) fn migrated() -> (SqliteConnection, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let connector = Connector::new(&dir.path().join("b.db"), Duration::from_secs(1)).unwrap();
    let mut conn = connector.open().unwrap();
    migrate(&mut conn).unwrap();
    (conn, dir)
}

/// The plan of `sql`, its steps joined by "; " (its parameters unbound: NULL).
pub(crate) fn plan(conn: &mut SqliteConnection, sql: &str) -> String {
    let rows: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load(conn)
        .unwrap();
    rows.into_iter()
        .map(|p| p.detail)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The plan of a query diesel builds.
pub(crate) fn plan_of<Q: QueryFragment<Sqlite>>(conn: &mut SqliteConnection, query: &Q) -> String {
    let sql = diesel::debug_query::<Sqlite, _>(query).to_string();
    let sql = sql
        .split(" -- binds:")
        .next()
        .unwrap_or_default()
        .to_owned();
    plan(conn, &sql)
}

/// `plan` reads `index` and sorts nothing.
#[track_caller]
pub(crate) fn assert_reads(plan: &str, index: &str) {
    assert!(plan.contains(&format!("INDEX {index} ")), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}
