//! Applying decided status changes (start, cancel, retry), guarded by the status they were
//! decided from.

use baton_domain::{Effect, TaskId, TaskStatus, Transition};
use diesel::SqliteConnection;
use diesel::prelude::*;

use crate::error::SqlResult;
use crate::events;
use crate::guard::stale_or_missing;
use crate::models::id_text;
use crate::schema::{tasks, workflows};
use crate::time::now;

fn ids(ids: &[TaskId]) -> Vec<String> {
    ids.iter().map(|id| id_text(id.as_uuid())).collect()
}

/// Applies `transition` inside the caller's (write) transaction.
pub(crate) fn apply(conn: &mut SqliteConnection, transition: &Transition) -> SqlResult<()> {
    let id = id_text(transition.workflow_id.as_uuid());
    let guarded = workflows::table
        .find(&id)
        .filter(workflows::status.eq(transition.from.as_str()));
    let common = (
        workflows::status.eq(transition.to.as_str()),
        workflows::updated_at.eq(now()),
        workflows::version.eq(workflows::version + 1),
    );
    let updated = match &transition.effect {
        Effect::Start { .. } => diesel::update(guarded)
            .set((
                common,
                workflows::started_at.eq(now().nullable()),
                workflows::current_position.eq(0),
            ))
            .execute(conn)?,
        Effect::Cancel => diesel::update(guarded)
            .set((common, workflows::finished_at.eq(now().nullable())))
            .execute(conn)?,
        Effect::Retry { .. } => diesel::update(guarded)
            .set((
                common,
                workflows::error.eq(None::<String>),
                workflows::finished_at.eq(None::<String>),
            ))
            .execute(conn)?,
    };
    if updated == 0 {
        return Err(stale_or_missing(conn, &id));
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
                tasks::available_at.eq(now().nullable()),
                tasks::updated_at.eq(now()),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)?;
        }
        Effect::Cancel => {
            let unfinished = TaskStatus::UNFINISHED.map(TaskStatus::as_str);
            diesel::update(
                tasks::table
                    .filter(tasks::workflow_id.eq(&id))
                    .filter(tasks::status.eq_any(unfinished)),
            )
            .set((
                tasks::status.eq(TaskStatus::Cancelled.as_str()),
                tasks::lease_owner.eq(None::<String>),
                tasks::lease_expires_at.eq(None::<String>),
                tasks::finished_at.eq(now().nullable()),
                tasks::updated_at.eq(now()),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)?;
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
                tasks::available_at.eq(now().nullable()),
                tasks::finished_at.eq(None::<String>),
                tasks::updated_at.eq(now()),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)?;
        }
    }
    events::append(conn, &transition.events)
}
