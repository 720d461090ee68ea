//! Workflow rows: create, read, list, edit, delete.

use std::collections::HashMap;

use baton_domain::ports::{Page, PageRequest, Scope, StoreError, WorkflowFilter};
use baton_domain::{
    NewWorkflow, Task, UserId, Workflow, WorkflowId, WorkflowPatch, WorkflowStatus,
};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::{PgError, PgResult};
use crate::models::{NewTaskRow, NewWorkflowRow, TaskFieldsRow, TaskRow, WorkflowRow};
use crate::schema::{tasks, workflows};

pub(crate) async fn create(
    conn: &mut AsyncPgConnection,
    new: &NewWorkflow,
    start: bool,
) -> Result<Workflow, StoreError> {
    let workflow_id = Uuid::now_v7();
    let owner_id = *new.owner_id.as_uuid();
    let task_rows: Vec<NewTaskRow<'_>> = new
        .tasks
        .iter()
        .enumerate()
        .map(|(position, task)| NewTaskRow {
            id: Uuid::now_v7(),
            workflow_id,
            owner_id,
            position: i32::try_from(position).unwrap_or(i32::MAX),
            status: "pending",
            fields: TaskFieldsRow::from_new(task),
        })
        .collect();
    let result: PgResult<Workflow> = conn
        .transaction(async |conn| {
            let row: WorkflowRow = diesel::insert_into(workflows::table)
                .values(NewWorkflowRow {
                    id: workflow_id,
                    owner_id,
                    name: new.name.as_str(),
                    status: WorkflowStatus::Pending.as_str(),
                    input: &new.input,
                })
                .returning(WorkflowRow::as_returning())
                .get_result(conn)
                .await?;
            let mut task_rows: Vec<TaskRow> = if task_rows.is_empty() {
                Vec::new()
            } else {
                diesel::insert_into(tasks::table)
                    .values(&task_rows)
                    .returning(TaskRow::as_returning())
                    .get_results(conn)
                    .await?
            };
            if start {
                crate::lifecycle::start_locked(conn, &row).await?;
                return load(conn, Scope::All, workflow_id).await;
            }
            task_rows.sort_by_key(|t| t.position);
            Ok(row.into_workflow(into_tasks(task_rows)?)?)
        })
        .await;
    Ok(result?)
}

pub(crate) fn into_tasks(rows: Vec<TaskRow>) -> Result<Vec<Task>, StoreError> {
    rows.into_iter()
        .map(|row| Task::try_from(row).map_err(StoreError::Unknown))
        .collect()
}

/// The tasks of each of `ids`, by position, in one statement.
async fn tasks_of(
    conn: &mut AsyncPgConnection,
    ids: Vec<Uuid>,
) -> PgResult<HashMap<Uuid, Vec<Task>>> {
    let rows: Vec<TaskRow> = tasks::table
        .filter(tasks::workflow_id.eq_any(ids))
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

fn scoped(scope: Scope) -> workflows::BoxedQuery<'static, diesel::pg::Pg> {
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

pub(crate) async fn load(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: Uuid,
) -> PgResult<Workflow> {
    let row: WorkflowRow = scoped(scope)
        .filter(workflows::id.eq(id))
        .select(WorkflowRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound("workflow"))?;
    let tasks: Vec<TaskRow> = tasks::table
        .filter(tasks::workflow_id.eq(id))
        .order(tasks::position)
        .select(TaskRow::as_select())
        .load(conn)
        .await?;
    Ok(row.into_workflow(into_tasks(tasks)?)?)
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
        query = query.filter(workflows::status.eq(status.as_str()));
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
    let mut tasks = if rows.is_empty() {
        HashMap::new()
    } else {
        tasks_of(conn, rows.iter().map(|r| r.id).collect()).await?
    };
    let items = rows
        .into_iter()
        .map(|row| {
            let tasks = tasks.remove(&row.id).unwrap_or_default();
            row.into_workflow(tasks).map_err(StoreError::Unknown)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next })
}

/// Locks a workflow row for the rest of the transaction.
pub(crate) async fn lock(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: Uuid,
) -> PgResult<WorkflowRow> {
    let row: WorkflowRow = workflows::table
        .find(id)
        .select(WorkflowRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .filter(|row| scope.allows(UserId::from_uuid(row.owner_id)))
        .ok_or(StoreError::NotFound("workflow"))?;
    Ok(row)
}

pub(crate) fn check_version(expected: Option<i32>, current: i32) -> PgResult<()> {
    match expected {
        Some(expected) if expected != current => {
            Err(StoreError::VersionMismatch { expected, current }.into())
        }
        _ => Ok(()),
    }
}

/// Marks a workflow as changed (its tasks changed): new version, new `updated_at`.
pub(crate) async fn touch(conn: &mut AsyncPgConnection, id: Uuid) -> PgResult<()> {
    diesel::update(workflows::table.find(id))
        .set((
            workflows::version.eq(workflows::version + 1),
            workflows::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(AsChangeset)]
#[diesel(table_name = workflows)]
struct WorkflowChanges<'a> {
    name: Option<&'a str>,
    input: Option<&'a serde_json::Value>,
}

pub(crate) async fn update(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: WorkflowId,
    patch: &WorkflowPatch,
    expected_version: Option<i32>,
) -> Result<Workflow, StoreError> {
    let id = *id.as_uuid();
    let result: PgResult<Workflow> = conn
        .transaction(async |conn| {
            let row = lock(conn, scope, id).await?;
            check_version(expected_version, row.version)?;
            let status = row.status()?;
            if status != WorkflowStatus::Pending {
                return Err(StoreError::Conflict(format!(
                    "the workflow is {status}; it can only be edited while pending"
                ))
                .into());
            }
            let changes = WorkflowChanges {
                name: patch.name.as_ref().map(|n| n.as_str()),
                input: patch.input.as_ref(),
            };
            if changes.name.is_some() || changes.input.is_some() {
                diesel::update(workflows::table.find(id))
                    .set((
                        changes,
                        workflows::version.eq(workflows::version + 1),
                        workflows::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
            }
            load(conn, Scope::All, id).await
        })
        .await;
    Ok(result?)
}

pub(crate) async fn delete(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: WorkflowId,
    expected_version: Option<i32>,
) -> Result<(), StoreError> {
    let id = *id.as_uuid();
    let result: PgResult<()> = conn
        .transaction(async |conn| {
            let row = lock(conn, scope, id).await?;
            check_version(expected_version, row.version)?;
            if row.status()? == WorkflowStatus::Running {
                return Err(StoreError::Conflict(
                    "the workflow is running; cancel it before deleting it".into(),
                )
                .into());
            }
            diesel::delete(workflows::table.find(id))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await;
    Ok(result?)
}
