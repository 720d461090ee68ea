//! Looking into a SQLite test store directly (what the API does not show). The calls are
//! synchronous: tests run them on the blocking pool.

use std::path::Path;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Integer, Text};
use diesel::{QueryableByName, SqliteConnection};

fn connect(path: &Path) -> SqliteConnection {
    let mut conn =
        SqliteConnection::establish(&path.to_string_lossy()).expect("open the test store's file");
    diesel::sql_query("PRAGMA busy_timeout = 5000")
        .execute(&mut conn)
        .expect("set a busy timeout");
    conn
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

/// Every row of Baton's run tables, as JSON text: equal snapshots mean nothing changed.
pub fn snapshot(path: &Path) -> String {
    let row: Snapshot = diesel::sql_query(
        "SELECT
           (SELECT coalesce(json_group_array(json_array(id, owner_id, name, status, input, output,
                   error, current_position, version, created_at, updated_at, started_at,
                   finished_at)), '[]') FROM (SELECT * FROM workflows ORDER BY id))
           || '|' ||
           (SELECT coalesce(json_group_array(json_array(id, workflow_id, owner_id, position, key,
                   title, type, input, resolved_input, status, attempt, max_attempts,
                   backoff_initial_ms, backoff_max_ms, backoff_multiplier, timeout_ms, output,
                   error, available_at, lease_owner, lease_expires_at, version, created_at,
                   updated_at, started_at, finished_at)), '[]') FROM (SELECT * FROM tasks ORDER BY id))
           || '|' ||
           (SELECT coalesce(json_group_array(json_array(id, workflow_id, task_id, attempt, type,
                   data, created_at)), '[]') FROM (SELECT * FROM events ORDER BY id))
           || '|' ||
           (SELECT coalesce(json_group_array(json_array(id, owner_id, collection, workflow_id,
                   task_id, data, created_at)), '[]') FROM (SELECT * FROM documents ORDER BY id))
           AS snapshot",
    )
    .get_result(&mut connect(path))
    .expect("snapshot the store");
    row.snapshot
}

/// Every row of Baton's run tables and of `secrets`, as text (sealed values as hex).
pub fn dump(path: &Path) -> String {
    let row: Snapshot = diesel::sql_query(
        "SELECT coalesce(json_group_array(json_array(id, owner_id, name, hex(nonce),
                hex(ciphertext), created_at, updated_at)), '[]') AS snapshot
         FROM (SELECT * FROM secrets ORDER BY id)",
    )
    .get_result(&mut connect(path))
    .expect("dump the secrets");
    format!("{}|{}", snapshot(path), row.snapshot)
}

pub fn count(path: &Path, table: &str) -> i64 {
    let sql = crate::database::count_sql(table);
    let row: Count = diesel::sql_query(sql)
        .get_result(&mut connect(path))
        .expect("count rows");
    row.count
}

pub fn force_workflow_status(path: &Path, workflow_id: &str, status: &str) {
    let updated = diesel::sql_query("UPDATE workflows SET status = ? WHERE id = ?")
        .bind::<Text, _>(status)
        .bind::<Text, _>(workflow_id)
        .execute(&mut connect(path))
        .expect("update the workflow's status");
    assert_eq!(updated, 1, "workflow {workflow_id} exists");
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    data: String,
}

fn parse(rows: Vec<EventRow>) -> Vec<(String, serde_json::Value)> {
    rows.into_iter()
        .map(|r| {
            let data = serde_json::from_str(&r.data).expect("stored event data is JSON");
            (r.event_type, data)
        })
        .collect()
}

pub fn events(path: &Path, workflow_id: &str) -> Vec<(String, serde_json::Value)> {
    let rows: Vec<EventRow> = diesel::sql_query(
        "SELECT type AS event_type, data FROM events WHERE workflow_id = ? ORDER BY id",
    )
    .bind::<Text, _>(workflow_id)
    .load(&mut connect(path))
    .expect("read events");
    parse(rows)
}

pub fn events_of_type(path: &Path, event_type: &str) -> Vec<serde_json::Value> {
    let rows: Vec<EventRow> =
        diesel::sql_query("SELECT type AS event_type, data FROM events WHERE type = ? ORDER BY id")
            .bind::<Text, _>(event_type)
            .load(&mut connect(path))
            .expect("read events");
    parse(rows).into_iter().map(|(_, data)| data).collect()
}

pub fn age_idempotency_keys(path: &Path, hours: i32) {
    diesel::sql_query(
        "UPDATE idempotency_keys
            SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-' || ? || ' hours')",
    )
    .bind::<Integer, _>(hours)
    .execute(&mut connect(path))
    .expect("age idempotency keys");
}

pub fn hold_idempotency_key(path: &Path, principal: uuid::Uuid, key: &str, fingerprint: &[u8]) {
    diesel::sql_query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint) VALUES (?, ?, ?)",
    )
    .bind::<Text, _>(principal.to_string())
    .bind::<Text, _>(key)
    .bind::<Binary, _>(fingerprint)
    .execute(&mut connect(path))
    .expect("insert an in-flight idempotency key");
}

pub fn api_keys_text(path: &Path) -> String {
    let row: Snapshot = diesel::sql_query(
        "SELECT coalesce(group_concat(id || ',' || owner_id || ',' || name || ',' || prefix || ','
                || hex(key_hash) || ',' || created_at || ',' || coalesce(revoked_at, ''), ';'), '')
                AS snapshot
           FROM api_keys",
    )
    .get_result(&mut connect(path))
    .expect("read api_keys");
    row.snapshot
}
