//! Applying decided status changes (start, cancel, retry), guarded by the status they were
//! decided from.

use baton_domain::ports::StoreError;
use baton_domain::{Effect, TaskStatus, Transition, Wiring};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{Value, json};

use crate::error::SqlResult;
use crate::events;
use crate::guard::stale_or_missing;
use crate::models::{id_text, task_ids};
use crate::schema::{tasks, workflows};
use crate::time::now;

/// Wires the tasks of a workflow at its start, in one statement whatever their number: binds
/// the wiring as a JSON array of `[task id, [dependent ids], waiting_on]`, and the workflow.
const WIRE_SQL: &str = "
UPDATE tasks
   SET dependents = wiring.value -> '$[1]',
       waiting_on = wiring.value ->> '$[2]'
  FROM json_each(?1) AS wiring
 WHERE tasks.id = wiring.value ->> '$[0]' AND tasks.workflow_id = ?2";

fn wire(conn: &mut SqliteConnection, workflow_id: &str, wiring: &[Wiring]) -> SqlResult<()> {
    let tasks = wiring.len();
    let wiring: Value = wiring
        .iter()
        .map(|w| {
            json!([
                id_text(w.task_id.as_uuid()),
                task_ids(&w.dependents),
                w.waiting_on
            ])
        })
        .collect();
    let wired = diesel::sql_query(WIRE_SQL)
        .bind::<Text, _>(wiring.to_string())
        .bind::<Text, _>(workflow_id)
        .execute(conn)?;
    if wired != tasks {
        // A task of the decision was replaced by another since.
        return Err(StoreError::Stale("workflow").into());
    }
    Ok(())
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
        Effect::Start {
            wiring,
            output_task,
            ..
        } => diesel::update(
            guarded.filter(
                // Wired as decided: no task was added or deleted since (else `Stale`). Its
                // tasks only: elements are not wired.
                tasks::table
                    .filter(tasks::workflow_id.eq(&id))
                    .filter(tasks::parent_task_id.is_null())
                    .count()
                    .single_value()
                    .eq(i64::try_from(wiring.len()).unwrap_or(i64::MAX)),
            ),
        )
        .set((
            common,
            workflows::started_at.eq(now().nullable()),
            workflows::current_position.eq(0),
            workflows::unfinished.eq(i32::try_from(wiring.len()).unwrap_or(i32::MAX)),
            workflows::output_task.eq(Some(id_text(output_task.as_uuid()))),
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
        Effect::Start { queue, wiring, .. } => {
            wire(conn, &id, wiring)?;
            diesel::update(
                tasks::table
                    .filter(tasks::id.eq_any(task_ids(queue)))
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
            // Cancelled ones were cancelled by the failure (a cancelled workflow is not retried).
            let retried = [TaskStatus::Failed, TaskStatus::Cancelled].map(TaskStatus::as_str);
            diesel::update(
                tasks::table
                    .filter(tasks::id.eq_any(task_ids(requeue)))
                    .filter(tasks::status.eq_any(retried)),
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
