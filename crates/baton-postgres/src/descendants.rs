//! A workflow's descendants (its children, theirs, …), taken downward without waiting: see the
//! lock order of the child-workflows migration. A cancel or a delete holding a workflow's row
//! locks its descendants' rows with SKIP LOCKED; when another transaction holds one (a child's
//! last step may hold it while it waits for this workflow's row), the whole transaction is
//! rolled back and tried again (after a [`Backoff`] pause), so that it never waits downward.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::{PgError, PgResult};
use crate::schema::workflows;

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Every descendant of `root`, whatever its status (a read, no lock).
const DESCENDANTS_SQL: &str = "
WITH RECURSIVE d(id) AS (
    SELECT id FROM workflows WHERE parent_id = $1
    UNION
    SELECT w.id FROM workflows w JOIN d ON w.parent_id = d.id)
SELECT id FROM d";

/// How the descendants are locked: for a cancel (their rows updated) or a delete.
#[derive(Clone, Copy)]
pub(crate) enum Purpose {
    Update,
    Delete,
}

/// Locks every descendant of `root` (whose row the caller holds) without waiting, and answers
/// them. `PgError::Busy` when another transaction holds one (or one went meanwhile): roll back
/// and try again. Once all are held, none can gain a child before the commit (starting a child
/// takes its parent's row), which the last read confirms.
pub(crate) async fn lock(
    conn: &mut AsyncPgConnection,
    root: Uuid,
    purpose: Purpose,
) -> PgResult<Vec<Uuid>> {
    let mut locked: Vec<Uuid> = Vec::new();
    loop {
        let found: Vec<IdRow> = diesel::sql_query(DESCENDANTS_SQL)
            .bind::<SqlUuid, _>(root)
            .load(conn)
            .await?;
        let new: Vec<Uuid> = found
            .into_iter()
            .map(|row| row.id)
            .filter(|id| !locked.contains(id))
            .collect();
        if new.is_empty() {
            return Ok(locked);
        }
        let query = workflows::table
            .filter(workflows::id.eq_any(&new))
            .select(workflows::id);
        let got: Vec<Uuid> = match purpose {
            Purpose::Update => query.for_no_key_update().skip_locked().load(conn).await?,
            Purpose::Delete => query.for_update().skip_locked().load(conn).await?,
        };
        if got.len() < new.len() {
            return Err(PgError::Busy);
        }
        locked.extend(got);
    }
}

/// The pauses between tries of a transaction that found a descendant held: short, growing,
/// about ten seconds of them in all.
pub(crate) struct Backoff {
    pause: Duration,
    left: u32,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self {
            pause: Duration::from_millis(1),
            left: 400,
        }
    }

    /// Waits before the next try; `false` (at once) when no try is left.
    pub(crate) async fn wait(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(25));
        true
    }
}
