//! Workflow rows: create (with its tasks, and its start when decided), read, list.

use std::collections::HashMap;

use baton_domain::ports::{Page, PageRequest, Scope, StoreError, WorkflowFilter};
use baton_domain::{NewWorkflow, Task, Transition, Workflow, WorkflowId, WorkflowStatus};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;

use crate::error::SqlResult;
use crate::models::{NewTaskRow, NewWorkflowRow, TaskRow, WorkflowRow, id_text, into_tasks};
use crate::schema::{tasks, workflows};

/// Stores `new` and its tasks (positions in order), applying `start` in the same transaction.
pub(crate) fn create(
    conn: &mut SqliteConnection,
    new: &NewWorkflow,
    start: Option<&Transition>,
) -> SqlResult<()> {
    let workflow_id = id_text(new.id().as_uuid());
    let owner_id = id_text(new.owner_id().as_uuid());
    diesel::insert_into(workflows::table)
        .values(NewWorkflowRow {
            id: workflow_id.clone(),
            owner_id: owner_id.clone(),
            name: new.name().as_str(),
            status: WorkflowStatus::Pending.as_str(),
            input: new.input().to_string(),
        })
        .execute(conn)?;
    let task_rows: Vec<NewTaskRow<'_>> = new
        .tasks()
        .iter()
        .enumerate()
        .map(|(position, task)| {
            let position = i32::try_from(position).unwrap_or(i32::MAX);
            NewTaskRow::pending(task, workflow_id.clone(), owner_id.clone(), position)
        })
        .collect();
    if !task_rows.is_empty() {
        diesel::insert_into(tasks::table)
            .values(task_rows)
            .execute(conn)?;
    }
    if let Some(start) = start {
        crate::lifecycle::apply(conn, start)?;
    }
    Ok(())
}

/// The tasks of each of `ids`, by position, in one statement.
fn tasks_of(
    conn: &mut SqliteConnection,
    ids: Vec<String>,
) -> SqlResult<HashMap<String, Vec<Task>>> {
    let rows: Vec<TaskRow> = tasks::table
        .filter(tasks::workflow_id.eq_any(ids))
        .order((tasks::workflow_id, tasks::position))
        .select(TaskRow::as_select())
        .load(conn)?;
    let mut by_workflow: HashMap<String, Vec<Task>> = HashMap::new();
    for row in rows {
        let workflow_id = row.workflow_id.clone();
        by_workflow
            .entry(workflow_id)
            .or_default()
            .push(Task::try_from(row)?);
    }
    Ok(by_workflow)
}

fn scoped(scope: Scope) -> workflows::BoxedQuery<'static, Sqlite> {
    let query = workflows::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(workflows::owner_id.eq(id_text(owner.as_uuid()))),
        None => query,
    }
}

/// One workflow with its tasks by position (call in a read transaction).
pub(crate) fn get(
    conn: &mut SqliteConnection,
    scope: Scope,
    id: WorkflowId,
) -> SqlResult<Workflow> {
    let id = id_text(id.as_uuid());
    let row: WorkflowRow = scoped(scope)
        .filter(workflows::id.eq(&id))
        .select(WorkflowRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("workflow"))?;
    let tasks: Vec<TaskRow> = tasks::table
        .filter(tasks::workflow_id.eq(&id))
        .order(tasks::position)
        .select(TaskRow::as_select())
        .load(conn)?;
    Ok(row.into_workflow(into_tasks(tasks)?)?)
}

/// A page of workflows newest first, each with its tasks: two statements whatever the page
/// holds (call in a read transaction).
pub(crate) fn list(
    conn: &mut SqliteConnection,
    scope: Scope,
    filter: WorkflowFilter,
    page: PageRequest,
) -> SqlResult<Page<Workflow>> {
    let limit = page.limit.get() as usize;
    let mut query = scoped(scope);
    if let Some(status) = filter.status {
        query = query.filter(workflows::status.eq(status.as_str()));
    }
    if let Some(after) = page.after {
        query = query.filter(workflows::id.lt(id_text(&after)));
    }
    let mut rows: Vec<WorkflowRow> = query
        .order(workflows::id.desc())
        .limit(limit as i64 + 1)
        .select(WorkflowRow::as_select())
        .load(conn)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut tasks = if rows.is_empty() {
        HashMap::new()
    } else {
        tasks_of(conn, rows.iter().map(|r| r.id.clone()).collect())?
    };
    let items = rows
        .into_iter()
        .map(|row| {
            let tasks = tasks.remove(&row.id).unwrap_or_default();
            row.into_workflow(tasks)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let next = if more {
        items.last().map(|w| *w.id.as_uuid())
    } else {
        None
    };
    Ok(Page { items, next })
}
