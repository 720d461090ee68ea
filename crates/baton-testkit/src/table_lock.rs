//! A lock on Baton's `workflows` table held from outside Baton (Postgres), as another client's
//! long transaction would hold it: Baton's statements on the table wait, holding their pooled
//! connections, until it is released.

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{Backend, TestDatabase, inspect_pg};

/// `LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE` inside an open transaction.
pub struct TableLock {
    conn: AsyncPgConnection,
    url: String,
}

#[derive(QueryableByName)]
struct Waiting {
    #[diesel(sql_type = BigInt)]
    waiting: i64,
}

impl TestDatabase {
    /// Locks the `workflows` table until [`TableLock::release`] (or drop). Postgres only.
    pub async fn lock_workflows_table(&self) -> TableLock {
        assert_eq!(self.backend, Backend::Postgres, "a Postgres table lock");
        let mut conn = inspect_pg::connect(&self.url).await;
        diesel::sql_query("BEGIN")
            .execute(&mut conn)
            .await
            .expect("begin");
        diesel::sql_query("LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .expect("lock the workflows table");
        TableLock {
            conn,
            url: self.url.clone(),
        }
    }
}

impl TableLock {
    /// How many other sessions on this database are waiting for a lock right now.
    pub async fn waiting(&self) -> i64 {
        let mut conn = inspect_pg::connect(&self.url).await;
        let row: Waiting = diesel::sql_query(
            "SELECT count(*) AS waiting FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut conn)
        .await
        .expect("count the sessions waiting for a lock");
        row.waiting
    }

    /// Ends the transaction: the waiting statements go on.
    pub async fn release(mut self) {
        diesel::sql_query("ROLLBACK")
            .execute(&mut self.conn)
            .await
            .expect("release the lock");
    }
}
