//! Applying decided status changes (start, cancel, retry), guarded by the status they were
//! decided from. A cancel reaches the workflow's descendants (child workflows, theirs, …) and
//! releases the parent's task waiting for it; a retry's requeued tasks forget their child.

use baton_domain::ports::StoreError;
use baton_domain::{Effect, EventKind, NewEvent, TaskStatus, Transition, Wiring, WorkflowId};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{Value, json};

use crate::error::SqlResult;
use crate::events;
use crate::guard::stale_or_missing;
use crate::models::{id_text, task_ids, uuid};
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

/// Cancels the unfinished descendants of workflow `id` (its children, theirs, …, found through
/// `workflows_parent_id_idx`), in one statement: their ids. Binds the workflow.
const CANCEL_DESCENDANTS_SQL: &str = "
WITH RECURSIVE descendants (id) AS (
    SELECT id FROM workflows WHERE parent_id = ?1
    UNION
    SELECT w.id FROM workflows AS w JOIN descendants AS d ON w.parent_id = d.id
)
UPDATE workflows
   SET status = 'cancelled',
       finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       version = version + 1
 WHERE id IN (SELECT id FROM descendants) AND status IN ('pending', 'running')
RETURNING id";

#[derive(QueryableByName)]
struct Cancelled {
    #[diesel(sql_type = Text)]
    id: String,
}

fn cancel_descendants(conn: &mut SqliteConnection, id: &str) -> SqlResult<Vec<WorkflowId>> {
    let rows: Vec<Cancelled> = diesel::sql_query(CANCEL_DESCENDANTS_SQL)
        .bind::<Text, _>(id)
        .load(conn)?;
    Ok(rows
        .iter()
        .map(|row| uuid(&row.id).map(WorkflowId::from_uuid))
        .collect::<anyhow::Result<_>>()?)
}

/// Every unfinished task of these workflows becomes cancelled and loses its lease.
fn cancel_unfinished_tasks(conn: &mut SqliteConnection, workflows: Vec<String>) -> SqlResult<()> {
    cancel_tasks(conn, workflows, &TaskStatus::UNFINISHED)
}

/// The tasks of these workflows in one of `statuses` become cancelled and lose their leases.
pub(crate) fn cancel_tasks(
    conn: &mut SqliteConnection,
    workflows: Vec<String>,
    statuses: &[TaskStatus],
) -> SqlResult<()> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    diesel::update(
        tasks::table
            .filter(tasks::workflow_id.eq_any(workflows))
            .filter(tasks::status.eq_any(statuses)),
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
    Ok(())
}

/// Applies `transition` inside the caller's (write) transaction.
pub(crate) fn apply(conn: &mut SqliteConnection, transition: &Transition) -> SqlResult<()> {
    let id = id_text(transition.workflow_id.as_uuid());
    let guarded = workflows::table
        .find(&id)
        .filter(workflows::status.eq(transition.from.stored()));
    let common = (
        workflows::status.eq(transition.to.stored()),
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
        Effect::Cancel { .. } => diesel::update(guarded)
            .set((common, workflows::finished_at.eq(now().nullable())))
            .execute(conn)?,
        Effect::Retry { .. } => diesel::update(guarded)
            .set((
                common,
                workflows::error.eq(None::<String>),
                workflows::finished_at.eq(None::<String>),
            ))
            .execute(conn)?,
        Effect::Queue { key, .. } => diesel::update(guarded)
            .set((
                common,
                workflows::concurrency_key.eq(key.as_str()),
                workflows::queued_at.eq(now().nullable()),
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
        Effect::Cancel { parent_task } => {
            // Its descendants first (their rows are not this one: SQLite has one writer, so
            // there is no lock order to keep), then every unfinished task of all of them in one
            // statement, then its parent's waiting task.
            let mut cancelled = cancel_descendants(conn, &id)?;
            let mut workflows = Vec::with_capacity(cancelled.len() + 1);
            workflows.push(id.clone());
            workflows.extend(cancelled.iter().map(|w| id_text(w.as_uuid())));
            cancel_unfinished_tasks(conn, workflows)?;
            crate::steps::release_parent(conn, parent_task.as_ref(), &id)?;
            cancelled.sort();
            let mut all = transition.events.clone();
            all.extend(
                cancelled
                    .into_iter()
                    .map(|w| NewEvent::new(w, EventKind::WorkflowCancelled)),
            );
            return events::append(conn, &all);
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
                // Its next attempt starts a new child workflow.
                tasks::child_workflow_id.eq(None::<String>),
                // A sleep or wait waits again, from the start.
                tasks::waiting_since.eq(None::<String>),
                tasks::wake_at.eq(None::<String>),
                tasks::available_at.eq(now().nullable()),
                tasks::finished_at.eq(None::<String>),
                tasks::updated_at.eq(now()),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)?;
        }
        // Its tasks wait as they are until it is admitted.
        Effect::Queue { .. } => {}
    }
    events::append(conn, &transition.events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::{migrated, plan};

    /// The cancel's walk of the descendants reads children by parent from their partial index.
    #[test]
    fn descendants_are_read_by_parent() {
        let (mut conn, _dir) = migrated();
        let plan = plan(&mut conn, CANCEL_DESCENDANTS_SQL);
        assert!(
            plan.contains("INDEX workflows_parent_id_idx (parent_id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN w "), "{plan}");
    }
}
