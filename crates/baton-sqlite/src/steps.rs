//! Applying a decided step (see `StepCommit` in baton-domain), in one `BEGIN IMMEDIATE`
//! transaction, in the order of Postgres' `baton_apply_step`:
//!  1. the claimed task takes its outcome, only while the step's token holds its lease (and,
//!     for the reaper, only once that lease has expired); otherwise nothing at all is applied.
//!     A task fanning out becomes pending, waiting for its elements, which are inserted then in
//!     one statement, copying what they run from its row. A task starting a child workflow
//!     becomes pending, waiting for it; the child is stored and started then, as
//!     `create_workflow` stores and starts one (a new row: SQLite has one writer, and nothing
//!     can wait for a row nobody knows yet);
//!  2. the document, at most once per task;
//!  3. the `queue` tasks become queued;
//!  4. `claim_task` becomes running under its decided token;
//!  5. the `release` tasks count one unfinished dependency fewer, those left with none (still
//!     pending) becoming queued;
//!  6. the workflow takes its outcome: a task done counts one unfinished task fewer and, at the
//!     last, completes it with its output task's output; a failure fails it and cancels its
//!     other queued and running tasks. A child workflow that ends so (completed or failed)
//!     also releases its parent's waiting task, as step 5 releases a dependent — a statement
//!     only its last step sends;
//!  7. the events are appended in order, a retry's time (SQLite's) filled into `task.retrying`,
//!     then `workflow.completed` when step 6 completed the workflow;
//!  8. with `then_claim`, one queued task of any workflow is claimed (with its `task.started`).
//!
//! A step of a sequential workflow handing over to the next task sends five statements: the
//! fenced write, the lease of the next task, the workflow, the events, the next claim's read.
//! A fan-out sends three whatever its number of elements (the fenced write, the elements, the
//! events), then its `then_claim`'s. A step starting a child sends eight whatever the child's
//! size (the fenced write; the child's row, tasks, start, wiring, roots and `workflow.started`;
//! the step's events), then its `then_claim`'s.

use baton_domain::{
    EventKind, Fence, NewEvent, StepApplied, StepCommit, TaskId, TaskOutcome, TaskStatus,
    WorkflowOutcome, WorkflowStatus,
};
use diesel::SqliteConnection;
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use serde_json::{Value, json};

use crate::claims;
use crate::error::SqlResult;
use crate::events;
use crate::models::{id_text, json_opt, task_ids};
use crate::prepared::Prepared;
use crate::schema::{documents, tasks, workflows};
use crate::time::{now, parse, shift, text};

/// Step 1: the fenced write. Binds: status, output, error, resolved input, retry modifier,
/// task id, token, reaper (expired leases only), elements (a fan-out only), child workflow (a
/// child's start only), wake time and signal name (a park only: 'waiting', which queues the
/// task at its wake time, or at once when a signal of that name is kept for the workflow). A skipped task's output is NULL; a task fanning out (pending) waits for
/// its elements, one starting a child (pending) for its child, their time unchanged; a task
/// queued for another attempt forgets its child (the attempt starts a new one).
const FENCED_SQL: &str = "
UPDATE tasks
   SET status = CASE WHEN ?1 = 'waiting' THEN 'queued' ELSE ?1 END,
       output = CASE WHEN ?1 IN ('completed', 'skipped') THEN ?2 ELSE output END,
       error = CASE WHEN ?1 IN ('completed', 'waiting') THEN NULL ELSE ?3 END,
       resolved_input = CASE WHEN ?1 = 'queued' THEN coalesce(?4, resolved_input) ELSE ?4 END,
       available_at = CASE WHEN ?1 = 'queued'
                           THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?5)
                           WHEN ?1 = 'waiting' AND ?12 IS NOT NULL AND EXISTS (
                                SELECT 1 FROM signals AS s
                                 WHERE s.workflow_id = tasks.workflow_id AND s.name = ?12
                                   AND s.consumed_by IS NULL)
                           THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                           WHEN ?1 = 'waiting' THEN ?11
                           ELSE available_at END,
       lease_owner = NULL, lease_expires_at = NULL,
       attempt = CASE WHEN ?1 IN ('pending', 'waiting') THEN max(attempt - 1, 0)
                      ELSE attempt END,
       finished_at = CASE WHEN ?1 IN ('queued', 'pending', 'waiting') THEN finished_at
                          ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
       waiting_on = coalesce(?9, CASE WHEN ?10 IS NOT NULL THEN 1 END, waiting_on),
       elements = coalesce(?9, elements),
       child_workflow_id = CASE WHEN ?1 = 'queued' THEN NULL
                                ELSE coalesce(?10, child_workflow_id) END,
       waiting_since = CASE WHEN ?1 = 'waiting'
                            THEN coalesce(waiting_since, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                            ELSE waiting_since END,
       wake_at = CASE WHEN ?1 = 'waiting' THEN ?11 ELSE wake_at END,
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
        TaskOutcome::Skipped { .. } => (TaskStatus::Skipped, None, None, None),
        TaskOutcome::Expand { .. } | TaskOutcome::StartChild { .. } => {
            (TaskStatus::Pending, None, None, None)
        }
        TaskOutcome::Retry { after, error } => (
            TaskStatus::Queued,
            None,
            Some(error),
            Some(shift(*after, true)),
        ),
        TaskOutcome::Failed { error } => (TaskStatus::Failed, None, Some(error), None),
        TaskOutcome::Wait { .. } => (TaskStatus::Queued, None, None, None),
    };
    let status = match &step.outcome {
        TaskOutcome::Wait { .. } => "waiting",
        _ => status.as_str(),
    };
    let (until, signal) = match &step.outcome {
        TaskOutcome::Wait { until, signal } => (until.map(text), signal.as_deref()),
        _ => (None, None),
    };
    let elements = match &step.outcome {
        TaskOutcome::Expand { elements } => Some(count(elements.len())),
        _ => None,
    };
    let child = match &step.outcome {
        TaskOutcome::StartChild { workflow, .. } => Some(id_text(workflow.id().as_uuid())),
        _ => None,
    };
    Ok(Prepared::new(FENCED_SQL)
        .text(status)
        .opt_text(output.map(|v| v.to_string()))
        .opt_text(error.map(|v| v.to_string()))
        .opt_text(step.resolved_input.as_ref().map(|v| v.to_string()))
        .opt_text(retry)
        .text(id_text(step.task_id.as_uuid()))
        .text(step.token.as_str())
        .bool(step.fence == Fence::Expired)
        .opt_int(elements)
        .opt_text(child)
        .opt_text(until)
        .opt_text(signal.map(str::to_owned))
        .get_result(conn)
        .optional()?)
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Step 1 of a fan-out: its elements, in one statement whatever their number. Binds the
/// elements as a JSON array of `[id, index, item, [dependent ids], waiting_on]`, and the
/// parent, whose row gives every element its workflow, owner, position, title, type, input,
/// retry policy, time limit and dependencies (copied, not sent). Waiting for none, an element
/// is queued now; else it is pending.
const ELEMENTS_SQL: &str = "
INSERT INTO tasks (
    id, workflow_id, owner_id, position, key, title, type, input, status, attempt,
    max_attempts, backoff_initial_ms, backoff_max_ms, backoff_multiplier, timeout_ms,
    available_at, depends_on, run_if, dependents, waiting_on, for_each, max_parallel,
    parent_task_id, element_index, item
)
SELECT e.value ->> '$[0]', p.workflow_id, p.owner_id, p.position, NULL, p.title, p.type,
       p.input, CASE WHEN e.value ->> '$[4]' = 0 THEN 'queued' ELSE 'pending' END, 0,
       p.max_attempts, p.backoff_initial_ms, p.backoff_max_ms, p.backoff_multiplier,
       p.timeout_ms,
       CASE WHEN e.value ->> '$[4]' = 0 THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
       p.depends_on, NULL, e.value -> '$[3]', e.value ->> '$[4]', NULL, NULL,
       p.id, e.value ->> '$[1]', e.value -> '$[2]'
  FROM tasks AS p, json_each(?1) AS e
 WHERE p.id = ?2";

fn insert_elements(conn: &mut SqliteConnection, step: &StepCommit) -> SqlResult<()> {
    let TaskOutcome::Expand { elements } = &step.outcome else {
        return Ok(());
    };
    if elements.is_empty() {
        return Ok(());
    }
    let rows: Value = elements
        .iter()
        .map(|e| {
            json!([
                id_text(e.id.as_uuid()),
                e.index,
                e.item,
                task_ids(&e.dependents),
                e.waiting_on
            ])
        })
        .collect();
    let inserted = diesel::sql_query(ELEMENTS_SQL)
        .bind::<Text, _>(rows.to_string())
        .bind::<Text, _>(id_text(step.task_id.as_uuid()))
        .execute(conn)?;
    if inserted != elements.len() {
        return Err(anyhow::anyhow!(
            "{inserted} of the {} elements of task {} were stored",
            elements.len(),
            step.task_id
        )
        .into());
    }
    Ok(())
}

/// Steps 3 to 5.
fn advance(conn: &mut SqliteConnection, step: &StepCommit) -> SqlResult<()> {
    if !step.queue.is_empty() {
        diesel::update(
            tasks::table
                .filter(tasks::id.eq_any(task_ids(&step.queue)))
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
    release(conn, &task_ids(&step.release))?;
    Ok(())
}

/// Tasks `ids` count one unfinished dependency fewer, those left with none (still pending)
/// becoming queued now: one statement (none for no ids). Step 5, and the release of a child
/// workflow's parent task when the child ends (see `conclude` and `lifecycle::apply`).
pub(crate) fn release(conn: &mut SqliteConnection, ids: &[String]) -> SqlResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    // SET reads the row as it was: `waiting_on = 1` is "reaches 0 now".
    let ready = || {
        tasks::waiting_on
            .eq(1)
            .and(tasks::status.eq(TaskStatus::Pending.as_str()))
    };
    diesel::update(
        tasks::table
            .filter(tasks::id.eq_any(ids))
            .filter(tasks::waiting_on.gt(0)),
    )
    .set((
        tasks::waiting_on.eq(tasks::waiting_on - 1),
        tasks::status.eq(
            case_when(ready(), TaskStatus::Queued.as_str().into_sql::<Text>())
                .otherwise(tasks::status),
        ),
        tasks::available_at.eq(case_when(ready(), now().nullable()).otherwise(tasks::available_at)),
        tasks::updated_at.eq(case_when(ready(), now()).otherwise(tasks::updated_at)),
        tasks::version
            .eq(tasks::version + case_when(ready(), 1.into_sql::<Integer>()).otherwise(0)),
    ))
    .execute(conn)?;
    Ok(())
}

/// The parent's task `parent_task` waiting for this (child) workflow, released as it ends.
/// Releases the parent's task waiting for child workflow `child` as the child ends: queued when
/// the parent is running, cancelled otherwise (a retry of the parent starts it again, with a
/// new child). Only a task still pending on that very child is touched. Binds task, child.
const RELEASE_PARENT_SQL: &str = "
UPDATE tasks
   SET waiting_on = 0,
       status = CASE WHEN (SELECT w.status FROM workflows AS w WHERE w.id = tasks.workflow_id)
                          = 'running' THEN 'queued' ELSE 'cancelled' END,
       available_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       finished_at = CASE WHEN (SELECT w.status FROM workflows AS w
                                 WHERE w.id = tasks.workflow_id) = 'running'
                          THEN finished_at ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       version = version + 1
 WHERE id = ?1 AND status = 'pending' AND child_workflow_id = ?2";

pub(crate) fn release_parent(
    conn: &mut SqliteConnection,
    parent_task: Option<&TaskId>,
    child: &str,
) -> SqlResult<()> {
    if let Some(task) = parent_task {
        diesel::sql_query(RELEASE_PARENT_SQL)
            .bind::<Text, _>(id_text(task.as_uuid()))
            .bind::<Text, _>(child)
            .execute(conn)?;
    }
    Ok(())
}

/// Step 6 for a task done: the running workflow counts one unfinished task fewer and, at the
/// last, completes with its output task's output (read as this transaction left it, the
/// claimed task's included). SET reads the row as it was: `unfinished <= 1` is "none left
/// now". Binds workflow, position advanced to (or the smallest integer), output task.
const TASK_DONE_SQL: &str = "
UPDATE workflows
   SET unfinished = max(unfinished - 1, 0),
       current_position = max(current_position, ?2),
       status = CASE WHEN unfinished <= 1 THEN 'completed' ELSE status END,
       output = CASE WHEN unfinished <= 1
                     THEN (SELECT t.output FROM tasks AS t WHERE t.id = ?3)
                     ELSE output END,
       finished_at = CASE WHEN unfinished <= 1 THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                          ELSE finished_at END,
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       version = version + 1
 WHERE id = ?1 AND status = 'running'
RETURNING status, output";

#[derive(QueryableByName)]
struct Concluded {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    output: Option<String>,
}

/// Step 6; the workflow's output when it completed it.
fn conclude(
    conn: &mut SqliteConnection,
    step: &StepCommit,
    workflow_id: &str,
) -> SqlResult<Option<Value>> {
    let workflow = workflows::table
        .find(workflow_id)
        .filter(workflows::status.eq(WorkflowStatus::Running.as_str()));
    let bump = (
        workflows::updated_at.eq(now()),
        workflows::version.eq(workflows::version + 1),
    );
    match &step.workflow {
        WorkflowOutcome::Unchanged => Ok(None),
        WorkflowOutcome::TaskDone {
            output_task,
            advance_to,
            parent_task,
        } => {
            let done: Option<Concluded> = Prepared::new(TASK_DONE_SQL)
                .text(workflow_id)
                .int(advance_to.unwrap_or(i32::MIN))
                .text(id_text(output_task.as_uuid()))
                .get_result(conn)
                .optional()?;
            match done {
                Some(done) if done.status == WorkflowStatus::Completed.as_str() => {
                    release_parent(conn, parent_task.as_ref(), workflow_id)?;
                    Ok(Some(
                        json_opt(done.output.as_deref())?.unwrap_or(Value::Null),
                    ))
                }
                _ => Ok(None),
            }
        }
        WorkflowOutcome::Failed { error, parent_task } => {
            let failed = diesel::update(workflow)
                .set((
                    workflows::status.eq(WorkflowStatus::Failed.as_str()),
                    workflows::error.eq(error.to_string()),
                    workflows::finished_at.eq(now().nullable()),
                    bump,
                ))
                .execute(conn)?;
            if failed == 1 {
                // Its other queued and running tasks stop (a running attempt's result will be
                // refused); pending ones (tasks waiting for a child workflow included) wait for
                // a retry.
                crate::lifecycle::cancel_tasks(
                    conn,
                    vec![workflow_id.to_owned()],
                    &[TaskStatus::Queued, TaskStatus::Running],
                )?;
                release_parent(conn, parent_task.as_ref(), workflow_id)?;
            }
            Ok(None)
        }
    }
}

/// Applies `step` inside the caller's (write) transaction.
pub(crate) fn apply(conn: &mut SqliteConnection, step: &StepCommit) -> SqlResult<StepApplied> {
    let Some(task) = fenced_write(conn, step)? else {
        return Ok(StepApplied::Lost);
    };
    if let Some(signal) = &step.consume_signal {
        crate::inbox::consume(conn, signal, step.task_id)?;
    }
    insert_elements(conn, step)?;
    if let TaskOutcome::StartChild { workflow, start } = &step.outcome {
        // A new row: nothing else can hold or wait for it.
        crate::workflows::create(conn, workflow, Some(start))?;
    }
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
    advance(conn, step)?;
    let completed = conclude(conn, step, &task.workflow_id)?;
    let retry_at = task.available_at.as_deref().map(parse).transpose()?;
    let mut events: Vec<NewEvent> = step
        .events
        .iter()
        .map(|event| match (&event.kind, retry_at) {
            (EventKind::TaskRetrying { .. }, Some(at)) => event.clone().retry_at(at),
            _ => event.clone(),
        })
        .collect();
    if let Some(output) = completed {
        events.push(NewEvent::new(
            step.workflow_id,
            EventKind::WorkflowCompleted { output },
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::{migrated, plan};

    /// The elements' insert reads the parent by primary key, once, and walks the bound array.
    #[test]
    fn elements_copy_the_parent_read_by_primary_key() {
        let (mut conn, _dir) = migrated();
        let plan = plan(&mut conn, ELEMENTS_SQL);
        assert!(
            plan.contains("SEARCH p USING INDEX sqlite_autoindex_tasks_1 (id=?)"),
            "{plan}"
        );
        assert!(plan.contains("SCAN e VIRTUAL TABLE"), "{plan}");
        assert!(!plan.contains("SCAN p"), "{plan}");
    }
}
