//! Applying decided status changes (start, cancel, retry), guarded by the status they were
//! decided from.

use baton_domain::ports::StoreError;
use baton_domain::{
    Effect, EventKind, NewEvent, TaskStatus, Transition, Wiring, WorkflowId, WorkflowStatus,
};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::descendants::{self, Purpose};
use crate::error::{PgError, PgResult};
use crate::events::{self, CANCEL_CHANNEL, WORK_CHANNEL};
use crate::guard::stale_or_missing;
use crate::models::NewEventRow;
use crate::schema::{tasks, workflows};

diesel::define_sql_function! {
    /// See migrations/postgres/*_child_workflows: releases the parent's task `task` waiting for
    /// `child`, locking the parent's row (upward, after everything of the child).
    fn baton_release_parent(child: SqlUuid, task: SqlUuid) -> Bool;
}

/// Releases `task`, of the parent of `child`, which ended (see `baton_release_parent`).
pub(crate) async fn release_parent(
    conn: &mut AsyncPgConnection,
    child: Uuid,
    task: Uuid,
) -> PgResult<()> {
    diesel::select(baton_release_parent(child, task))
        .execute(conn)
        .await?;
    Ok(())
}

/// Cancels the descendants of `id` (whose row the caller holds, cancelled): their rows are
/// locked without waiting (see `descendants.rs`), those pending or running are cancelled and
/// answered.
async fn cancel_descendants(conn: &mut AsyncPgConnection, id: Uuid) -> PgResult<Vec<Uuid>> {
    let descendants = descendants::lock(conn, id, Purpose::Update).await?;
    if descendants.is_empty() {
        return Ok(Vec::new());
    }
    let cancellable =
        [WorkflowStatus::Pending, WorkflowStatus::Running].map(WorkflowStatus::as_str);
    Ok(diesel::update(
        workflows::table
            .filter(workflows::id.eq_any(descendants))
            .filter(workflows::status.eq_any(cancellable)),
    )
    .set((
        workflows::status.eq(WorkflowStatus::Cancelled.as_str()),
        workflows::finished_at.eq(now),
        workflows::updated_at.eq(now),
        workflows::version.eq(workflows::version + 1),
    ))
    .returning(workflows::id)
    .get_results(conn)
    .await?)
}

fn ids(ids: &[baton_domain::TaskId]) -> Vec<Uuid> {
    ids.iter().map(|id| *id.as_uuid()).collect()
}

/// Every task's wiring in one statement: what it releases (in order) and how many dependencies
/// it waits for. Once per run, so its cost may grow with the workflow.
const WIRE_SQL: &str = "
UPDATE tasks
   SET dependents = coalesce(d.dependents, '{}'), waiting_on = w.waiting_on
  FROM unnest($2::uuid[], $3::integer[]) AS w(id, waiting_on)
  LEFT JOIN (SELECT e.task, array_agg(e.dependent ORDER BY e.n) AS dependents
               FROM unnest($4::uuid[], $5::uuid[]) WITH ORDINALITY AS e(task, dependent, n)
              GROUP BY e.task) d ON d.task = w.id
 WHERE tasks.id = w.id AND tasks.workflow_id = $1";

async fn wire(conn: &mut AsyncPgConnection, workflow_id: Uuid, wiring: &[Wiring]) -> PgResult<()> {
    let tasks: Vec<Uuid> = wiring.iter().map(|w| *w.task_id.as_uuid()).collect();
    let waiting: Vec<i32> = wiring.iter().map(|w| w.waiting_on).collect();
    let (from, to): (Vec<Uuid>, Vec<Uuid>) = wiring
        .iter()
        .flat_map(|w| {
            w.dependents
                .iter()
                .map(move |d| (*w.task_id.as_uuid(), *d.as_uuid()))
        })
        .unzip();
    let wired = diesel::sql_query(WIRE_SQL)
        .bind::<SqlUuid, _>(workflow_id)
        .bind::<Array<SqlUuid>, _>(tasks)
        .bind::<Array<Integer>, _>(waiting)
        .bind::<Array<SqlUuid>, _>(from)
        .bind::<Array<SqlUuid>, _>(to)
        .execute(conn)
        .await?;
    // The start was decided from the tasks as read: when one was added, deleted or replaced
    // since (an edit that committed before this start took the workflow's row), it is stale.
    let own: i64 = tasks::table
        .filter(tasks::workflow_id.eq(workflow_id))
        .filter(tasks::parent_task_id.is_null())
        .count()
        .get_result(conn)
        .await?;
    if wired != wiring.len() || usize::try_from(own).ok() != Some(wiring.len()) {
        return Err(StoreError::Stale("workflow").into());
    }
    Ok(())
}

/// Applies `transition` inside the caller's transaction. Its first statement, the guarded
/// update of the workflow row, locks that row until the commit: before the tasks are touched
/// and before the transition's events are appended, as every appender of a workflow's events
/// does (see the task-graph migration), so that they commit in id order and cannot deadlock
/// with steps, claims or held events. A guard that matches no row appends nothing.
pub(crate) async fn apply_in(
    conn: &mut AsyncPgConnection,
    transition: &Transition,
) -> PgResult<()> {
    let id = *transition.workflow_id.as_uuid();
    let guarded = workflows::table
        .find(id)
        .filter(workflows::status.eq(transition.from.stored()));
    let common = (
        workflows::status.eq(transition.to.stored()),
        workflows::updated_at.eq(now),
        workflows::version.eq(workflows::version + 1),
    );
    let updated = match &transition.effect {
        Effect::Start {
            wiring,
            output_task,
            ..
        } => {
            diesel::update(guarded)
                .set((
                    common,
                    workflows::started_at.eq(now),
                    workflows::current_position.eq(0),
                    workflows::unfinished.eq(i32::try_from(wiring.len()).unwrap_or(i32::MAX)),
                    workflows::output_task.eq(Some(*output_task.as_uuid())),
                ))
                .execute(conn)
                .await?
        }
        Effect::Cancel { .. } => {
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
        Effect::Queue { key, .. } => {
            diesel::update(guarded)
                .set((
                    common,
                    workflows::concurrency_key.eq(key.as_str()),
                    workflows::queued_at.eq(now),
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
    // A cancel's descendants, cancelled with it (their events appended after its own).
    let mut cancelled: Vec<Uuid> = Vec::new();
    match &transition.effect {
        Effect::Start { queue, wiring, .. } => {
            wire(conn, id, wiring).await?;
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
        Effect::Cancel { .. } => {
            cancelled = cancel_descendants(conn, id).await?;
            let mut workflows = vec![id];
            workflows.extend(&cancelled);
            let unfinished = TaskStatus::UNFINISHED.map(TaskStatus::as_str);
            diesel::update(
                tasks::table
                    .filter(tasks::workflow_id.eq_any(&workflows))
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
            for workflow in &workflows {
                events::notify(conn, CANCEL_CHANNEL, &workflow.to_string()).await?;
            }
        }
        Effect::Retry { requeue } => {
            // A fresh attempt budget; the lease token, not the attempt, fences old runs out.
            // Cancelled tasks are those the failure stopped; their dependents still wait.
            // A requeued task forgets its child workflow: its next attempt starts another.
            let retried = [TaskStatus::Failed, TaskStatus::Cancelled].map(TaskStatus::as_str);
            diesel::update(
                tasks::table
                    .filter(tasks::id.eq_any(ids(requeue)))
                    .filter(tasks::status.eq_any(retried)),
            )
            .set((
                tasks::status.eq(TaskStatus::Queued.as_str()),
                tasks::attempt.eq(0),
                tasks::child_workflow_id.eq(None::<Uuid>),
                // A sleep or wait waits again, from the start.
                tasks::waiting_since.eq(None::<chrono::DateTime<chrono::Utc>>),
                tasks::wake_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                tasks::available_at.eq(now),
                tasks::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                tasks::updated_at.eq(now),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)
            .await?;
            events::notify(conn, WORK_CHANNEL, "").await?;
        }
        // Its tasks wait as they are until it is admitted.
        Effect::Queue { .. } => {}
    }
    let descendants_events: Vec<NewEvent> = cancelled
        .iter()
        .map(|d| NewEvent::new(WorkflowId::from_uuid(*d), EventKind::WorkflowCancelled))
        .collect();
    events::append(
        conn,
        transition
            .events
            .iter()
            .chain(&descendants_events)
            .map(NewEventRow::from)
            .collect(),
    )
    .await?;
    // Last: a child cancelled on its own lets its parent's task go on (upward lock).
    if let Effect::Cancel {
        parent_task: Some(task),
    } = &transition.effect
    {
        release_parent(conn, id, *task.as_uuid()).await?;
    }
    Ok(())
}

pub(crate) async fn apply(
    conn: &mut AsyncPgConnection,
    transition: &Transition,
) -> Result<(), StoreError> {
    let mut backoff = descendants::Backoff::new();
    loop {
        let result: PgResult<()> = conn
            .transaction(async |conn| apply_in(conn, transition).await)
            .await;
        match result {
            Err(PgError::Busy) if backoff.wait().await => {}
            other => return Ok(other?),
        }
    }
}
