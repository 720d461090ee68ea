//! Applying decided status changes (start, cancel, retry), guarded by the status they were
//! decided from.

use baton_domain::ports::StoreError;
use baton_domain::{Effect, TaskStatus, Transition};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::PgResult;
use crate::events::{self, CANCEL_CHANNEL, WORK_CHANNEL};
use crate::guard::stale_or_missing;
use crate::models::NewEventRow;
use crate::schema::{tasks, workflows};

fn ids(ids: &[baton_domain::TaskId]) -> Vec<Uuid> {
    ids.iter().map(|id| *id.as_uuid()).collect()
}

/// Applies `transition` inside the caller's transaction.
pub(crate) async fn apply_in(
    conn: &mut AsyncPgConnection,
    transition: &Transition,
) -> PgResult<()> {
    let id = *transition.workflow_id.as_uuid();
    let guarded = workflows::table
        .find(id)
        .filter(workflows::status.eq(transition.from.as_str()));
    let common = (
        workflows::status.eq(transition.to.as_str()),
        workflows::updated_at.eq(now),
        workflows::version.eq(workflows::version + 1),
    );
    let updated = match &transition.effect {
        Effect::Start { .. } => {
            diesel::update(guarded)
                .set((
                    common,
                    workflows::started_at.eq(now),
                    workflows::current_position.eq(0),
                ))
                .execute(conn)
                .await?
        }
        Effect::Cancel => {
            diesel::update(guarded)
                .set((common, workflows::finished_at.eq(now)))
                .execute(conn)
                .await?
        }
        Effect::Retry { .. } => {
            diesel::update(guarded)
                .set((
                    common,
                    workflows::error.eq(None::<serde_json::Value>),
                    workflows::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                ))
                .execute(conn)
                .await?
        }
    };
    if updated == 0 {
        return Err(stale_or_missing(conn, id).await);
    }
    match &transition.effect {
        Effect::Start { queue } => {
            diesel::update(
                tasks::table
                    .filter(tasks::id.eq_any(ids(queue)))
                    .filter(tasks::status.eq(TaskStatus::Pending.as_str())),
            )
            .set((
                tasks::status.eq(TaskStatus::Queued.as_str()),
                tasks::available_at.eq(now),
                tasks::updated_at.eq(now),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)
            .await?;
            events::notify(conn, WORK_CHANNEL, "").await?;
        }
        Effect::Cancel => {
            let unfinished = TaskStatus::UNFINISHED.map(TaskStatus::as_str);
            diesel::update(
                tasks::table
                    .filter(tasks::workflow_id.eq(id))
                    .filter(tasks::status.eq_any(unfinished)),
            )
            .set((
                tasks::status.eq(TaskStatus::Cancelled.as_str()),
                tasks::lease_owner.eq(None::<String>),
                tasks::lease_expires_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                tasks::finished_at.eq(now),
                tasks::updated_at.eq(now),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)
            .await?;
            events::notify(conn, CANCEL_CHANNEL, &id.to_string()).await?;
        }
        Effect::Retry { requeue } => {
            // A fresh attempt budget; the lease token, not the attempt, fences old runs out.
            diesel::update(
                tasks::table
                    .filter(tasks::id.eq_any(ids(requeue)))
                    .filter(tasks::status.eq(TaskStatus::Failed.as_str())),
            )
            .set((
                tasks::status.eq(TaskStatus::Queued.as_str()),
                tasks::attempt.eq(0),
                tasks::available_at.eq(now),
                tasks::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                tasks::updated_at.eq(now),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)
            .await?;
            events::notify(conn, WORK_CHANNEL, "").await?;
        }
    }
    events::append(
        conn,
        transition.events.iter().map(NewEventRow::from).collect(),
    )
    .await
}

pub(crate) async fn apply(
    conn: &mut AsyncPgConnection,
    transition: &Transition,
) -> Result<(), StoreError> {
    let result: PgResult<()> = conn
        .transaction(async |conn| apply_in(conn, transition).await)
        .await;
    Ok(result?)
}
