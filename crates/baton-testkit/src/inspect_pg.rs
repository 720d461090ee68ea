//! Looking into a Postgres test database directly (what the API does not show).

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// The server part of the test database URL (no database name).
pub fn server_url() -> String {
    std::env::var("BATON_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

pub async fn connect(url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(url)
        .await
        .expect("connect to the test database")
}

/// Drops the database at `url` (from `Drop`, inside or outside a runtime).
pub fn drop_database(url: &str) -> bool {
    let url = url.to_owned();
    let dropped = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(baton_postgres::drop_database(&url)))
    })
    .join();
    matches!(dropped, Ok(Ok(Ok(()))))
}

#[derive(QueryableByName)]
struct Snapshot {
    #[diesel(sql_type = Text)]
    snapshot: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// A digest of every row of Baton's tables: equal snapshots mean nothing changed.
pub async fn snapshot(conn: &mut AsyncPgConnection) -> String {
    let row: Snapshot = diesel::sql_query(
        "SELECT concat_ws('|',
            (SELECT md5(coalesce(string_agg(w::text, ',' ORDER BY w.id), '')) FROM workflows w),
            (SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM tasks t),
            (SELECT md5(coalesce(string_agg(e::text, ',' ORDER BY e.id), '')) FROM events e),
            (SELECT md5(coalesce(string_agg(d::text, ',' ORDER BY d.id), '')) FROM documents d)
         ) AS snapshot",
    )
    .get_result(conn)
    .await
    .expect("snapshot the database");
    row.snapshot
}

/// Every row of Baton's run tables and of `secrets`, as text (sealed values as hex).
pub async fn dump(conn: &mut AsyncPgConnection) -> String {
    let row: Snapshot = diesel::sql_query(
        "SELECT concat_ws('|',
            (SELECT string_agg(w::text, ',' ORDER BY w.id) FROM workflows w),
            (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM tasks t),
            (SELECT string_agg(e::text, ',' ORDER BY e.id) FROM events e),
            (SELECT string_agg(d::text, ',' ORDER BY d.id) FROM documents d),
            (SELECT string_agg(s::text, ',' ORDER BY s.id) FROM secrets s)
         ) AS snapshot",
    )
    .get_result(conn)
    .await
    .expect("dump the database");
    row.snapshot
}

/// Rows in one of Baton's tables.
pub async fn count(conn: &mut AsyncPgConnection, table: &str) -> i64 {
    let sql = crate::database::count_sql(table);
    let row: Count = diesel::sql_query(sql)
        .get_result(conn)
        .await
        .expect("count rows");
    row.count
}

pub async fn force_workflow_status(conn: &mut AsyncPgConnection, workflow_id: &str, status: &str) {
    let id: Uuid = workflow_id.parse().expect("a workflow id");
    let updated = diesel::sql_query("UPDATE workflows SET status = $1 WHERE id = $2")
        .bind::<Text, _>(status)
        .bind::<diesel::sql_types::Uuid, _>(id)
        .execute(conn)
        .await
        .expect("update the workflow's status");
    assert_eq!(updated, 1, "workflow {workflow_id} exists");
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    data: serde_json::Value,
}

/// A workflow's events in order, as `(type, data)`.
pub async fn events(
    conn: &mut AsyncPgConnection,
    workflow_id: &str,
) -> Vec<(String, serde_json::Value)> {
    let id: Uuid = workflow_id.parse().expect("a workflow id");
    let rows: Vec<EventRow> = diesel::sql_query(
        "SELECT type AS event_type, data FROM events WHERE workflow_id = $1 ORDER BY id",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .load(conn)
    .await
    .expect("read events");
    rows.into_iter().map(|r| (r.event_type, r.data)).collect()
}

/// Every event of one type across all workflows (data only).
pub async fn events_of_type(
    conn: &mut AsyncPgConnection,
    event_type: &str,
) -> Vec<serde_json::Value> {
    let rows: Vec<EventRow> = diesel::sql_query(
        "SELECT type AS event_type, data FROM events WHERE type = $1 ORDER BY id",
    )
    .bind::<Text, _>(event_type)
    .load(conn)
    .await
    .expect("read events");
    rows.into_iter().map(|r| r.data).collect()
}

/// Makes every idempotency key `hours` older, as if that time had passed.
pub async fn age_idempotency_keys(conn: &mut AsyncPgConnection, hours: i32) {
    diesel::sql_query(
        "UPDATE idempotency_keys SET created_at = created_at - make_interval(hours => $1)",
    )
    .bind::<diesel::sql_types::Integer, _>(hours)
    .execute(conn)
    .await
    .expect("age idempotency keys");
}

/// Records a request as in flight under `key` for `principal`, as if it were still running.
pub async fn hold_idempotency_key(
    conn: &mut AsyncPgConnection,
    principal: Uuid,
    key: &str,
    fingerprint: &[u8],
) {
    diesel::sql_query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint) VALUES ($1, $2, $3)",
    )
    .bind::<diesel::sql_types::Uuid, _>(principal)
    .bind::<Text, _>(key)
    .bind::<diesel::sql_types::Bytea, _>(fingerprint)
    .execute(conn)
    .await
    .expect("insert an in-flight idempotency key");
}

/// Every row of `api_keys` as text (to check what is stored).
pub async fn api_keys_text(conn: &mut AsyncPgConnection) -> String {
    let row: Snapshot = diesel::sql_query(
        "SELECT coalesce(string_agg(k::text, ','), '') AS snapshot FROM api_keys k",
    )
    .get_result(conn)
    .await
    .expect("read api_keys");
    row.snapshot
}
