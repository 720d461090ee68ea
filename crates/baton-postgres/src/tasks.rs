//! Task rows: read and list (edits are applied in `edit.rs`).

use baton_domain::ports::{Page, PageRequest, Scope, StoreError, TaskFilter};
use baton_domain::{Task, TaskId};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::{PgError, PgResult};
use crate::models::TaskRow;
use crate::schema::tasks;
use crate::workflows::into_tasks;

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
