//! Task rows: read, list, and the edits allowed while their workflow is pending.

use baton_domain::ports::{Page, PageRequest, Scope, StoreError, TaskFilter};
use baton_domain::{
    DomainError, MAX_TASKS_PER_WORKFLOW, NewTask, Task, TaskId, TaskPatch, TaskStatus, WorkflowId,
    WorkflowStatus,
};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::{PgError, PgResult};
use crate::models::{NewTaskRow, TaskFieldsRow, TaskRow, WorkflowRow};
use crate::schema::tasks;
use crate::workflows::{check_version, into_tasks, lock, touch};

fn scoped(scope: Scope) -> tasks::BoxedQuery<'static, diesel::pg::Pg> {
    let query = tasks::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(tasks::owner_id.eq(*owner.as_uuid())),
        None => query,
    }
}

fn into_task(row: TaskRow) -> PgResult<Task> {
    Ok(Task::try_from(row)?)
}

pub(crate) async fn get(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: TaskId,
) -> Result<Task, StoreError> {
    let row = scoped(scope)
        .filter(tasks::id.eq(*id.as_uuid()))
        .select(TaskRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(PgError::from)?
        .ok_or(StoreError::NotFound("task"))?;
    Ok(into_task(row)?)
}

pub(crate) async fn list(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    filter: TaskFilter,
    page: PageRequest,
) -> Result<Page<Task>, StoreError> {
    let limit = page.limit.get() as usize;
    let mut query = scoped(scope);
    if let Some(workflow_id) = filter.workflow_id {
        query = query.filter(tasks::workflow_id.eq(*workflow_id.as_uuid()));
    }
    if let Some(status) = filter.status {
        query = query.filter(tasks::status.eq(status.as_str()));
    }
    if let Some(after) = page.after {
        query = query.filter(tasks::id.lt(after));
    }
    let mut rows: Vec<TaskRow> = query
        .order(tasks::id.desc())
        .limit(limit as i64 + 1)
        .select(TaskRow::as_select())
        .load(conn)
        .await
        .map_err(PgError::from)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Page {
        items: into_tasks(rows)?,
        next,
    })
}

fn require_pending(workflow: &WorkflowRow) -> PgResult<()> {
    let status = workflow.status()?;
    if status == WorkflowStatus::Pending {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "the workflow is {status}; its tasks can only be changed while it is pending"
        ))
        .into())
    }
}

async fn task_count(conn: &mut AsyncPgConnection, workflow_id: Uuid) -> PgResult<i32> {
    let count: i64 = tasks::table
        .filter(tasks::workflow_id.eq(workflow_id))
        .count()
        .get_result(conn)
        .await?;
    Ok(i32::try_from(count).unwrap_or(i32::MAX))
}

fn check_position(position: i32, max: i32) -> PgResult<()> {
    if (0..=max).contains(&position) {
        Ok(())
    } else {
        Err(DomainError::invalid("position", format!("must be between 0 and {max}")).into())
    }
}

/// Moves the tasks in positions `from..=to` of a workflow by `delta` (the unique constraint on
/// positions is deferred to the commit).
async fn shift(
    conn: &mut AsyncPgConnection,
    workflow_id: Uuid,
    from: i32,
    to: i32,
    delta: i32,
) -> PgResult<()> {
    diesel::update(
        tasks::table
            .filter(tasks::workflow_id.eq(workflow_id))
            .filter(tasks::position.between(from, to)),
    )
    .set(tasks::position.eq(tasks::position + delta))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn add(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    workflow_id: WorkflowId,
    position: Option<i32>,
    task: &NewTask,
) -> Result<Task, StoreError> {
    let workflow_id = *workflow_id.as_uuid();
    let result: PgResult<Task> = conn
        .transaction(async |conn| {
            let workflow = lock(conn, scope, workflow_id).await?;
            require_pending(&workflow)?;
            let count = task_count(conn, workflow_id).await?;
            if count as usize >= MAX_TASKS_PER_WORKFLOW {
                return Err(DomainError::invalid(
                    "workflow_id",
                    format!(
                        "the workflow already has {MAX_TASKS_PER_WORKFLOW} tasks, the most allowed"
                    ),
                )
                .into());
            }
            let position = position.unwrap_or(count);
            check_position(position, count)?;
            shift(conn, workflow_id, position, i32::MAX, 1).await?;
            let row: TaskRow = diesel::insert_into(tasks::table)
                .values(NewTaskRow {
                    id: Uuid::now_v7(),
                    workflow_id,
                    owner_id: workflow.owner_id,
                    position,
                    status: TaskStatus::Pending.as_str(),
                    fields: TaskFieldsRow::from_new(task),
                })
                .returning(TaskRow::as_returning())
                .get_result(conn)
                .await?;
            touch(conn, workflow_id).await?;
            into_task(row)
        })
        .await;
    Ok(result?)
}

/// Locks the workflow of a task, then the task (always in that order, like `add`).
async fn lock_task(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: Uuid,
) -> PgResult<(WorkflowRow, TaskRow)> {
    let workflow_id: Uuid = scoped(scope)
        .filter(tasks::id.eq(id))
        .select(tasks::workflow_id)
        .first(conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound("task"))?;
    let workflow = lock(conn, Scope::All, workflow_id).await?;
    let task = tasks::table
        .filter(tasks::id.eq(id))
        .select(TaskRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound("task"))?;
    Ok((workflow, task))
}

pub(crate) async fn update(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: TaskId,
    patch: &TaskPatch,
    expected_version: Option<i32>,
) -> Result<Task, StoreError> {
    let id = *id.as_uuid();
    let result: PgResult<Task> = conn
        .transaction(async |conn| {
            let (workflow, row) = lock_task(conn, scope, id).await?;
            check_version(expected_version, row.version)?;
            require_pending(&workflow)?;
            let from = row.position;
            let mut task = into_task(row)?;
            task.apply(patch)?;
            if let Some(to) = patch.position.filter(|to| *to != from) {
                let last = task_count(conn, workflow.id).await? - 1;
                check_position(to, last)?;
                if to > from {
                    shift(conn, workflow.id, from + 1, to, -1).await?;
                } else {
                    shift(conn, workflow.id, to, from - 1, 1).await?;
                }
                diesel::update(tasks::table.find(id))
                    .set(tasks::position.eq(to))
                    .execute(conn)
                    .await?;
            }
            let row: TaskRow = diesel::update(tasks::table.find(id))
                .set((
                    TaskFieldsRow::from_task(&task),
                    tasks::version.eq(tasks::version + 1),
                    tasks::updated_at.eq(now),
                ))
                .returning(TaskRow::as_returning())
                .get_result(conn)
                .await?;
            touch(conn, workflow.id).await?;
            into_task(row)
        })
        .await;
    Ok(result?)
}

pub(crate) async fn delete(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: TaskId,
    expected_version: Option<i32>,
) -> Result<(), StoreError> {
    let id = *id.as_uuid();
    let result: PgResult<()> = conn
        .transaction(async |conn| {
            let (workflow, row) = lock_task(conn, scope, id).await?;
            check_version(expected_version, row.version)?;
            require_pending(&workflow)?;
            diesel::delete(tasks::table.find(id)).execute(conn).await?;
            shift(conn, workflow.id, row.position + 1, i32::MAX, -1).await?;
            touch(conn, workflow.id).await?;
            Ok(())
        })
        .await;
    Ok(result?)
}
