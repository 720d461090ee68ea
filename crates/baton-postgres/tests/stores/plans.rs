//! The step's statements find tasks by key however small the tasks table was when PL/pgSQL
//! planned them: a generic plan made on a new database is kept by its connection while the
//! table grows, and a sequential scan there would read the whole table at every step.

use crate::support;

use baton_conformance::support::{create_started, transforms};
use baton_domain::UserId;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

#[derive(diesel::QueryableByName)]
struct Scans {
    #[diesel(sql_type = BigInt)]
    seq_scan: i64,
}

async fn seq_scans_of_tasks(conn: &mut AsyncPgConnection) -> diesel::QueryResult<i64> {
    diesel::sql_query(
        "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'public.tasks'::regclass",
    )
    .get_result::<Scans>(conn)
    .await
    .map(|scans| scans.seq_scan)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claimed_tasks_dependents_are_read_by_key_on_a_new_database() {
    if !support::available().await {
        return;
    }
    let (store, database) = support::fresh_store().await;
    // Each task of a sequential workflow names the next as its dependent.
    create_started(&store, &transforms(UserId::generate(), "planned", 4)).await;

    let mut conn = AsyncPgConnection::establish(&database.url).await.unwrap();
    conn.batch_execute(
        "BEGIN;
         CREATE TEMP TABLE claimed (LIKE tasks) ON COMMIT DROP;
         INSERT INTO claimed SELECT * FROM tasks WHERE cardinality(dependents) > 0 LIMIT 1;",
    )
    .await
    .unwrap();
    let before = seq_scans_of_tasks(&mut conn).await.unwrap();
    // More calls than PL/pgSQL plans for their values (5): the rest use its generic plan.
    let calls = diesel::sql_query(
        "SELECT count(baton_claim_json(ROW(c.*)::tasks)) AS seq_scan
           FROM claimed c, generate_series(1, 10)",
    )
    .get_result::<Scans>(&mut conn)
    .await
    .unwrap();
    assert_eq!(calls.seq_scan, 10, "a task with a dependent was claimed");
    let scans = seq_scans_of_tasks(&mut conn).await.unwrap() - before;
    assert_eq!(
        scans, 0,
        "the claim's dependents were read by a sequential scan"
    );
    conn.batch_execute("ROLLBACK").await.unwrap();
}
