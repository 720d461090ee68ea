//! How the queue stands, in one statement over the queued tasks' index.

use baton_domain::{QueueStats, TaskStatus};
use diesel::SqliteConnection;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use crate::error::SqlResult;
use crate::schema::tasks;
use crate::time::{now, parse, parse_opt};

/// Runnable queued tasks (their time has come by SQLite's clock), the oldest's time, and the
/// clock's time.
pub(crate) fn queue_stats(conn: &mut SqliteConnection) -> SqlResult<QueueStats> {
    let (depth, oldest, counted_at): (i64, Option<String>, String) = tasks::table
        .filter(tasks::status.eq(TaskStatus::Queued.as_str()))
        .filter(tasks::available_at.le(now().nullable()))
        .select((count_star(), min(tasks::available_at), now()))
        .first(conn)?;
    Ok(QueueStats {
        depth: u64::try_from(depth).unwrap_or_default(),
        oldest_runnable_since: parse_opt(oldest.as_deref())?,
        counted_at: Some(parse(&counted_at)?),
    })
}
