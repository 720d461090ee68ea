//! How the queue stands, in one statement over the partial index of queued tasks.

use baton_domain::ports::StoreError;
use baton_domain::{QueueStats, TaskStatus};
use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, min, now};
use diesel::prelude::*;
use diesel::sql_types::Timestamptz;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::PgError;
use crate::schema::tasks;

/// Runnable queued tasks (their time has come by the database's clock), the oldest's time, and
/// the clock's time.
pub(crate) async fn queue_stats(conn: &mut AsyncPgConnection) -> Result<QueueStats, StoreError> {
    let (depth, oldest, counted_at): (i64, Option<DateTime<Utc>>, DateTime<Utc>) = tasks::table
        .filter(tasks::status.eq(TaskStatus::Queued.as_str()))
        .filter(tasks::available_at.le(now))
        .select((
            count_star(),
            min(tasks::available_at),
            now.into_sql::<Timestamptz>(),
        ))
        .first(conn)
        .await
        .map_err(PgError::from)?;
    Ok(QueueStats {
        depth: u64::try_from(depth).unwrap_or_default(),
        oldest_runnable_since: oldest,
        counted_at: Some(counted_at),
    })
}
