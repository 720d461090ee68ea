//! Applying decided edits of pending workflows, guarded by the workflow version they were
//! decided from.
//!
//! Positions stay unique at every moment: SQLite checks a UNIQUE index row by row and cannot
//! defer it to the commit as Postgres does, so shifting tasks one place in a single UPDATE
//! could collide with a neighbour not yet moved. Instead the tasks to move are first *parked*
//! at negative positions (`position - PARKED`, below every real position, distinct since it is
//! a translation), then *placed* at their final positions, which are free by then — two
//! statements, in the edit's one transaction.

use baton_domain::{Change, Edit, WorkflowPatch};
use diesel::SqliteConnection;
use diesel::prelude::*;

use crate::error::SqlResult;
use crate::guard::stale_or_missing;
use crate::models::{NewTaskRow, TaskFieldsRow, id_text};
use crate::schema::{tasks, workflows};
use crate::time::now;

/// Larger than any position (a workflow has at most 1,000 tasks).
const PARKED: i32 = 1 << 30;

#[derive(AsChangeset)]
#[diesel(table_name = workflows)]
struct WorkflowChanges<'a> {
    name: Option<&'a str>,
    input: Option<String>,
}

/// Moves the tasks in positions `from..=to` of a workflow by `delta`, except `moving` (a task
/// of the range that the caller then puts in its own place). Its tasks, not elements (which a
/// pending workflow has none of), as `tasks_workflow_position_key` holds them.
fn shift(
    conn: &mut SqliteConnection,
    workflow_id: &str,
    (from, to): (i32, i32),
    delta: i32,
    moving: Option<&str>,
) -> SqlResult<()> {
    diesel::update(
        tasks::table
            .filter(tasks::workflow_id.eq(workflow_id))
            .filter(tasks::parent_task_id.is_null())
            .filter(tasks::position.between(from, to)),
    )
    .set(tasks::position.eq(tasks::position - PARKED))
    .execute(conn)?;
    let parked = tasks::table
        .filter(tasks::workflow_id.eq(workflow_id))
        .filter(tasks::parent_task_id.is_null())
        .filter(tasks::position.lt(0))
        .filter(tasks::id.ne(moving.unwrap_or_default()));
    diesel::update(parked)
        .set(tasks::position.eq(tasks::position + (PARKED + delta)))
        .execute(conn)?;
    Ok(())
}

/// Applies `edit` inside the caller's (write) transaction.
pub(crate) fn apply(conn: &mut SqliteConnection, edit: &Edit) -> SqlResult<()> {
    let id = id_text(edit.workflow_id.as_uuid());
    let guarded = workflows::table
        .find(&id)
        .filter(workflows::version.eq(edit.version));
    if let Change::Delete = edit.change {
        if diesel::delete(guarded).execute(conn)? == 0 {
            return Err(stale_or_missing(conn, &id));
        }
        return Ok(());
    }
    let changes = match &edit.change {
        Change::Workflow(patch) => WorkflowChanges {
            name: patch.name.as_ref().map(|n| n.as_str()),
            input: patch.input.as_ref().map(|input| input.to_string()),
        },
        _ => WorkflowChanges {
            name: None,
            input: None,
        },
    };
    let bump = (
        workflows::version.eq(workflows::version + 1),
        workflows::updated_at.eq(now()),
    );
    let owner: Option<String> = if changes.name.is_some() || changes.input.is_some() {
        diesel::update(guarded)
            .set((changes, bump))
            .returning(workflows::owner_id)
            .get_result(conn)
            .optional()?
    } else {
        diesel::update(guarded)
            .set(bump)
            .returning(workflows::owner_id)
            .get_result(conn)
            .optional()?
    };
    let Some(owner_id) = owner else {
        return Err(stale_or_missing(conn, &id));
    };
    if let Change::Workflow(WorkflowPatch {
        concurrency: Some(concurrency),
        ..
    }) = &edit.change
    {
        diesel::update(workflows::table.find(&id))
            .set((
                workflows::concurrency_key.eq(concurrency.as_ref().map(|c| c.key.as_str())),
                workflows::concurrency_limit.eq(concurrency
                    .as_ref()
                    .map(|c| i32::try_from(c.limit).unwrap_or(i32::MAX))),
            ))
            .execute(conn)?;
    }
    if let Change::Workflow(WorkflowPatch {
        budget: Some(budget),
        ..
    }) = &edit.change
    {
        diesel::update(workflows::table.find(&id))
            .set(workflows::budget.eq(budget.map(|b| b.to_json().to_string())))
            .execute(conn)?;
    }
    match &edit.change {
        Change::Workflow(_) | Change::Delete => {}
        Change::AddTask { task, position } => {
            shift(conn, &id, (*position, i32::MAX), 1, None)?;
            diesel::insert_into(tasks::table)
                .values(NewTaskRow::pending(task, id.clone(), owner_id, *position))
                .execute(conn)?;
        }
        Change::UpdateTask { task, from, to } => {
            let task_id = id_text(task.id.as_uuid());
            if to > from {
                shift(conn, &id, (*from, *to), -1, Some(&task_id))?;
            } else if to < from {
                shift(conn, &id, (*to, *from), 1, Some(&task_id))?;
            }
            diesel::update(tasks::table.find(&task_id))
                .set((
                    TaskFieldsRow::from_task(task),
                    tasks::position.eq(to),
                    tasks::version.eq(tasks::version + 1),
                    tasks::updated_at.eq(now()),
                ))
                .execute(conn)?;
        }
        Change::DeleteTask { task_id, position } => {
            diesel::delete(tasks::table.find(id_text(task_id.as_uuid()))).execute(conn)?;
            shift(conn, &id, (position + 1, i32::MAX), -1, None)?;
        }
    }
    Ok(())
}
