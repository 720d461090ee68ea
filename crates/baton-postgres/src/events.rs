//! The event rows every state change appends, and the notifications that wake workers.

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::PgResult;
use crate::models::NewEventRow;
use crate::schema::events;

/// Channel notified (on commit) when a task becomes runnable.
pub const WORK_CHANNEL: &str = "baton_work";
/// Channel notified (on commit, by a trigger) with a workflow id when it has new events.
pub const EVENTS_CHANNEL: &str = "baton_events";
/// Channel notified (on commit) with a workflow id when that workflow is cancelled.
pub const CANCEL_CHANNEL: &str = "baton_cancel";

pub(crate) async fn append(conn: &mut AsyncPgConnection, rows: Vec<NewEventRow>) -> PgResult<()> {
    if !rows.is_empty() {
        diesel::insert_into(events::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Sends `payload` on `channel` when the current transaction commits.
pub(crate) async fn notify(
    conn: &mut AsyncPgConnection,
    channel: &str,
    payload: &str,
) -> PgResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(channel)
        .bind::<Text, _>(payload)
        .execute(conn)
        .await?;
    Ok(())
}
