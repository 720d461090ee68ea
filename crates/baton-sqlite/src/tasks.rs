//! Task rows: read and list (edits are applied in `edit.rs`).

use baton_domain::ports::{Page, PageRequest, Scope, StoreError, TaskFilter};
use baton_domain::{Task, TaskId};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;

use crate::error::SqlResult;
use crate::models::{TaskRow, id_text, into_tasks};
use crate::schema::{tasks, workflows};

fn scoped(scope: Scope) -> tasks::BoxedQuery<'static, Sqlite> {
    let query = tasks::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(tasks::owner_id.eq(id_text(owner.as_uuid()))),
        None => query,
    }
}

pub(crate) fn get(conn: &mut SqliteConnection, scope: Scope, id: TaskId) -> SqlResult<Task> {
    let row = scoped(scope)
        .filter(tasks::id.eq(id_text(id.as_uuid())))
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("task"))?;
    Ok(Task::try_from(row)?)
}

/// A page of tasks newest first, in one statement (two with a workflow, call in a read
/// transaction then). Elements of fan-outs are listed with the other tasks, with their parent
/// and index (`Workflow.tasks`, the list of a workflow's own tasks, has none).
///
/// The tasks of one workflow are read by `tasks_workflow_id_idx` alone, their owner checked on
/// the workflow first: with `owner_id` in the same query, SQLite (which keeps no statistics
/// here) may walk every task of the owner instead.
pub(crate) fn list(
    conn: &mut SqliteConnection,
    scope: Scope,
    filter: TaskFilter,
    page: PageRequest,
) -> SqlResult<Page<Task>> {
    let limit = page.limit.get() as usize;
    let mut query = tasks::table.into_boxed();
    match (filter.workflow_id, scope.owner()) {
        (Some(workflow_id), owner) => {
            let workflow_id = id_text(workflow_id.as_uuid());
            if let Some(owner) = owner {
                let theirs: Option<String> = workflows::table
                    .find(&workflow_id)
                    .filter(workflows::owner_id.eq(id_text(owner.as_uuid())))
                    .select(workflows::id)
                    .first(conn)
                    .optional()?;
                if theirs.is_none() {
                    return Ok(Page {
                        items: Vec::new(),
                        next: None,
                    });
                }
            }
            query = query.filter(tasks::workflow_id.eq(workflow_id));
        }
        (None, Some(owner)) => query = query.filter(tasks::owner_id.eq(id_text(owner.as_uuid()))),
        (None, None) => {}
    }
    if let Some(status) = filter.status {
        query = query.filter(tasks::status.eq(status.as_str()));
    }
    if let Some(after) = page.after {
        query = query.filter(tasks::id.lt(id_text(&after)));
    }
    let mut rows: Vec<TaskRow> = query
        .order(tasks::id.desc())
        .limit(limit as i64 + 1)
        .select(TaskRow::as_select())
        .load(conn)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let items = into_tasks(rows)?;
    let next = if more {
        items.last().map(|t| *t.id.as_uuid())
    } else {
        None
    };
    Ok(Page { items, next })
}
