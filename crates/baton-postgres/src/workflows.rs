//! Workflow rows: create, read, list, edit, delete.

use std::collections::HashMap;

use baton_domain::ports::{Page, PageRequest, Scope, StoreError, WorkflowFilter};
use baton_domain::{
    Budget, NewWorkflow, Task, TaskId, TaskStatus, Transition, Workflow, WorkflowId, WorkflowStatus,
};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::{PgError, PgResult};
use crate::models::{NewTaskRow, NewWorkflowRow, TaskFieldsRow, TaskRow, WorkflowRow};
use crate::schema::{tasks, workflows};

pub(crate) async fn create(
    conn: &mut AsyncPgConnection,
    new: &NewWorkflow,
    start: Option<&Transition>,
) -> Result<(), StoreError> {
    let result: PgResult<()> = conn
        .transaction(async |conn| create_in(conn, new, start).await)
        .await;
    Ok(result?)
}

/// Stores `new` (its tasks, its parent) and applies `start`, inside the caller's transaction:
/// also a step's that starts a child workflow (the new row is seen by nobody else before the
/// commit, so locking it cannot wait).
pub(crate) async fn create_in(
    conn: &mut AsyncPgConnection,
    new: &NewWorkflow,
    start: Option<&Transition>,
) -> PgResult<()> {
    let workflow_id = *new.id().as_uuid();
    let owner_id = *new.owner_id().as_uuid();
    let task_rows: Vec<NewTaskRow<'_>> = new
        .tasks()
        .iter()
        .enumerate()
        .map(|(position, task)| NewTaskRow {
            id: *task.id().as_uuid(),
            workflow_id,
            owner_id,
            position: i32::try_from(position).unwrap_or(i32::MAX),
            status: TaskStatus::Pending.as_str(),
            fields: TaskFieldsRow::from_new(task),
        })
        .collect();
    let parent = new.parent();
    diesel::insert_into(workflows::table)
        .values(NewWorkflowRow {
            id: workflow_id,
            owner_id,
            name: new.name().as_str(),
            status: WorkflowStatus::Pending.as_str(),
            input: new.input(),
            parent_id: parent.map(|(workflow, _)| *workflow.as_uuid()),
            parent_task_id: parent.map(|(_, task)| *task.as_uuid()),
            concurrency_key: new.concurrency().map(|c| c.key.as_str()),
            concurrency_limit: new
                .concurrency()
                .map(|c| i32::try_from(c.limit).unwrap_or(i32::MAX)),
            definition_name: new.definition().map(|d| d.name.as_str()),
            definition_version: new.definition().map(|d| d.version),
            schedule_id: new.schedule().map(|s| s.id),
            scheduled_at: new.schedule().map(|s| s.at),
            budget: new.budget().map(Budget::to_json),
        })
        .execute(conn)
        .await?;
    if !task_rows.is_empty() {
        diesel::insert_into(tasks::table)
            .values(&task_rows)
            .execute(conn)
            .await?;
    }
    if let Some(start) = start {
        crate::lifecycle::apply_in(conn, start).await?;
    }
    Ok(())
}

pub(crate) fn into_tasks(rows: Vec<TaskRow>) -> Result<Vec<Task>, StoreError> {
    rows.into_iter()
        .map(|row| Task::try_from(row).map_err(StoreError::Unknown))
        .collect()
}

/// The tasks (not the elements of their fan-outs) of each of `ids`, by position, in one
/// statement.
async fn tasks_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> PgResult<HashMap<Uuid, Vec<Task>>> {
    let rows: Vec<TaskRow> = tasks::table
        .filter(tasks::workflow_id.eq_any(ids))
        .filter(tasks::parent_task_id.is_null())
        .order((tasks::workflow_id, tasks::position))
        .select(TaskRow::as_select())
        .load(conn)
        .await?;
    let mut by_workflow: HashMap<Uuid, Vec<Task>> = HashMap::new();
    for task in into_tasks(rows)? {
        by_workflow
            .entry(*task.workflow_id.as_uuid())
            .or_default()
            .push(task);
    }
    Ok(by_workflow)
}

/// The predicate of `tasks_elements_to_retry_idx`, as the fan-out migration writes it: a
/// constant (bound statuses would not let a generic plan prove that the index applies).
const ELEMENT_TO_RETRY: &str = "parent_task_id IS NOT NULL AND status IN ('failed', 'cancelled')";

/// The elements of fan-outs of each of `ids` that failed or were cancelled (those a retry runs
/// again), in one statement on `tasks_elements_to_retry_idx`.
async fn elements_to_retry(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> PgResult<HashMap<Uuid, Vec<TaskId>>> {
    let rows: Vec<(Uuid, Uuid)> = tasks::table
        .filter(tasks::workflow_id.eq_any(ids))
        .filter(diesel::dsl::sql::<Bool>(ELEMENT_TO_RETRY))
        .order((tasks::workflow_id, tasks::position, tasks::element_index))
        .select((tasks::workflow_id, tasks::id))
        .load(conn)
        .await?;
    let mut by_workflow: HashMap<Uuid, Vec<TaskId>> = HashMap::new();
    for (workflow_id, id) in rows {
        by_workflow
            .entry(workflow_id)
            .or_default()
            .push(TaskId::from_uuid(id));
    }
    Ok(by_workflow)
}

pub(crate) fn scoped(scope: Scope) -> workflows::BoxedQuery<'static, diesel::pg::Pg> {
    let query = workflows::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(workflows::owner_id.eq(*owner.as_uuid())),
        None => query,
    }
}

pub(crate) async fn get(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: WorkflowId,
) -> Result<Workflow, StoreError> {
    Ok(load(conn, scope, *id.as_uuid()).await?)
}

async fn load(conn: &mut AsyncPgConnection, scope: Scope, id: Uuid) -> PgResult<Workflow> {
    let row: WorkflowRow = scoped(scope)
        .filter(workflows::id.eq(id))
        .select(WorkflowRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound("workflow"))?;
    let tasks: Vec<TaskRow> = tasks::table
        .filter(tasks::workflow_id.eq(id))
        .filter(tasks::parent_task_id.is_null())
        .order(tasks::position)
        .select(TaskRow::as_select())
        .load(conn)
        .await?;
    let to_retry = elements_to_retry(conn, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    Ok(row.into_workflow(into_tasks(tasks)?, to_retry)?)
}

pub(crate) async fn list(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    filter: WorkflowFilter,
    page: PageRequest,
) -> Result<Page<Workflow>, StoreError> {
    let limit = i64::from(page.limit.get());
    let mut query = scoped(scope);
    if let Some(status) = filter.status {
        query = query.filter(workflows::status.eq(status.stored()));
        match status {
            WorkflowStatus::Paused => query = query.filter(workflows::paused.is_not_null()),
            WorkflowStatus::Running => query = query.filter(workflows::paused.is_null()),
            _ => {}
        }
    }
    if let Some(pattern) = filter.name_pattern() {
        query = query.filter(workflows::name.ilike(pattern).escape('\\'));
    }
    if let Some(after) = page.after {
        query = query.filter(workflows::id.lt(after));
    }
    let mut rows: Vec<WorkflowRow> = query
        .order(workflows::id.desc())
        .limit(limit + 1)
        .select(WorkflowRow::as_select())
        .load(conn)
        .await
        .map_err(PgError::from)?;
    let more = rows.len() > page.limit.get() as usize;
    rows.truncate(page.limit.get() as usize);
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let (mut tasks, mut to_retry) = if rows.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        (
            tasks_of(conn, &ids).await?,
            elements_to_retry(conn, &ids).await?,
        )
    };
    let items = rows
        .into_iter()
        .map(|row| {
            let tasks = tasks.remove(&row.id).unwrap_or_default();
            let to_retry = to_retry.remove(&row.id).unwrap_or_default();
            row.into_workflow(tasks, to_retry)
                .map_err(StoreError::Unknown)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next })
}
