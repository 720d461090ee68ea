//! Applying a decided step (see `StepCommit` in baton-domain), in one `BEGIN IMMEDIATE`
//! transaction, in the order of Postgres' `baton_apply_step`:
//!  1. the claimed task takes its outcome, only while the step's token holds its lease (and,
//!     for the reaper, only once that lease has expired); otherwise nothing at all is applied;
//!  2. the document, at most once per task;
//!  3. the `queue` tasks become queued;
//!  4. `claim_task` becomes running under its decided token;
//!  5. the workflow takes its outcome;
//!  6. the events are appended in order, a retry's time (SQLite's) filled into `task.retrying`;
//!  7. with `then_claim`, one queued task of any workflow is claimed (with its `task.started`).

use baton_domain::{
    EventKind, Fence, NewEvent, StepApplied, StepCommit, TaskOutcome, TaskStatus, WorkflowOutcome,
    WorkflowStatus,
};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};

use crate::claims;
use crate::error::SqlResult;
use crate::events;
use crate::models::id_text;
use crate::schema::{documents, tasks, workflows};
use crate::time::{now, parse, shift};

/// Step 1: the fenced write. Binds: status, output, error, resolved input, retry modifier,
/// task id, token, reaper (expired leases only).
const FENCED_SQL: &str = "
UPDATE tasks
   SET status = ?1,
       output = CASE WHEN ?1 = 'completed' THEN ?2 ELSE output END,
       error = CASE WHEN ?1 = 'completed' THEN NULL ELSE ?3 END,
       resolved_input = CASE WHEN ?1 = 'queued' THEN coalesce(?4, resolved_input) ELSE ?4 END,
       available_at = CASE WHEN ?1 = 'queued'
                           THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?5)
                           ELSE available_at END,
       lease_owner = NULL, lease_expires_at = NULL,
       finished_at = CASE WHEN ?1 = 'queued' THEN finished_at
                          ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       version = version + 1
 WHERE id = ?6 AND lease_owner = ?7 AND status = 'running'
   AND (NOT ?8 OR lease_expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
RETURNING workflow_id, owner_id, available_at";

#[derive(QueryableByName)]
struct Fenced {
    #[diesel(sql_type = Text)]
    workflow_id: String,
    #[diesel(sql_type = Text)]
    owner_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    available_at: Option<String>,
}

fn fenced_write(conn: &mut SqliteConnection, step: &StepCommit) -> SqlResult<Option<Fenced>> {
    let (status, output, error, retry) = match &step.outcome {
        TaskOutcome::Completed { output } => (TaskStatus::Completed, Some(output), None, None),
        TaskOutcome::Retry { after, error } => (
            TaskStatus::Queued,
            None,
            Some(error),
            Some(shift(*after, true)),
        ),
        TaskOutcome::Failed { error } => (TaskStatus::Failed, None, Some(error), None),
    };
    Ok(diesel::sql_query(FENCED_SQL)
        .bind::<Text, _>(status.as_str())
        .bind::<Nullable<Text>, _>(output.map(|v| v.to_string()))
        .bind::<Nullable<Text>, _>(error.map(|v| v.to_string()))
        .bind::<Nullable<Text>, _>(step.resolved_input.as_ref().map(|v| v.to_string()))
        .bind::<Nullable<Text>, _>(retry)
        .bind::<Text, _>(id_text(step.task_id.as_uuid()))
        .bind::<Text, _>(step.token.as_str())
        .bind::<Bool, _>(step.fence == Fence::Expired)
        .get_result(conn)
        .optional()?)
}

/// Steps 3 to 5.
fn advance(conn: &mut SqliteConnection, step: &StepCommit, workflow_id: &str) -> SqlResult<()> {
    if !step.queue.is_empty() {
        let queue: Vec<String> = step.queue.iter().map(|id| id_text(id.as_uuid())).collect();
        diesel::update(
            tasks::table
                .filter(tasks::id.eq_any(queue))
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
    if let Some((id, next)) = &step.claim_task {
        let id = id_text(id.as_uuid());
        if !claims::lease(conn, &id, TaskStatus::Pending, &next.token, next.lease)? {
            return Err(anyhow::anyhow!("the decided next task {id} is not pending").into());
        }
    }
    let workflow = workflows::table.find(workflow_id);
    let running = workflows::status.eq(WorkflowStatus::Running.as_str());
    let bump = (
        workflows::updated_at.eq(now()),
        workflows::version.eq(workflows::version + 1),
    );
    match &step.workflow {
        WorkflowOutcome::Unchanged => {}
        WorkflowOutcome::Advanced { position } => {
            diesel::update(workflow)
                .set((workflows::current_position.eq(position), bump))
                .execute(conn)?;
        }
        WorkflowOutcome::Completed { output } => {
            diesel::update(workflow.filter(running))
                .set((
                    workflows::status.eq(WorkflowStatus::Completed.as_str()),
                    workflows::output.eq(output.to_string()),
                    workflows::finished_at.eq(now().nullable()),
                    bump,
                ))
                .execute(conn)?;
        }
        WorkflowOutcome::Failed { error } => {
            diesel::update(workflow.filter(running))
                .set((
                    workflows::status.eq(WorkflowStatus::Failed.as_str()),
                    workflows::error.eq(error.to_string()),
                    workflows::finished_at.eq(now().nullable()),
                    bump,
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Applies `step` inside the caller's (write) transaction.
pub(crate) fn apply(conn: &mut SqliteConnection, step: &StepCommit) -> SqlResult<StepApplied> {
    let Some(task) = fenced_write(conn, step)? else {
        return Ok(StepApplied::Lost);
    };
    if let Some(document) = &step.document {
        diesel::insert_into(documents::table)
            .values((
                documents::id.eq(id_text(&document.id)),
                documents::owner_id.eq(&task.owner_id),
                documents::collection.eq(&document.collection),
                documents::workflow_id.eq(&task.workflow_id),
                documents::task_id.eq(id_text(step.task_id.as_uuid())),
                documents::data.eq(document.data.to_string()),
            ))
            .on_conflict(documents::task_id)
            .do_nothing()
            .execute(conn)?;
    }
    advance(conn, step, &task.workflow_id)?;
    let retry_at = task.available_at.as_deref().map(parse).transpose()?;
    let events: Vec<NewEvent> = step
        .events
        .iter()
        .map(|event| match (&event.kind, retry_at) {
            (EventKind::TaskRetrying { .. }, Some(at)) => event.clone().retry_at(at),
            _ => event.clone(),
        })
        .collect();
    events::append(conn, &events)?;
    let mut next = match &step.claim_task {
        Some((id, _)) => claims::load(conn, &[id_text(id.as_uuid())])?.pop(),
        None => None,
    };
    if let Some(then) = &step.then_claim {
        next = claims::claim_queued(conn, std::slice::from_ref(&then.token), then.lease)?.pop();
    }
    Ok(StepApplied::Applied {
        next: next.map(Box::new),
    })
}
