//! Workflow rows: create (with its tasks, its parent for a child workflow, and its start when
//! decided), read, list.

use std::collections::HashMap;

use baton_domain::ports::{Page, PageRequest, Scope, StoreError, WorkflowFilter};
use baton_domain::{
    NewWorkflow, Task, TaskId, TaskStatus, Transition, Workflow, WorkflowId, WorkflowStatus,
};
use diesel::SqliteConnection;
use diesel::dsl::AsSelect;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use crate::error::SqlResult;
use crate::models::{NewTaskRow, NewWorkflowRow, TaskRow, WorkflowRow, id_text, into_tasks, uuid};
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
            parent_id: new.parent().map(|(w, _)| id_text(w.as_uuid())),
            parent_task_id: new.parent().map(|(_, t)| id_text(t.as_uuid())),
            concurrency_key: new.concurrency().map(|c| c.key.as_str()),
            concurrency_limit: new
                .concurrency()
                .map(|c| i32::try_from(c.limit).unwrap_or(i32::MAX)),
            definition_name: new.definition().map(|d| d.name.as_str()),
            definition_version: new.definition().map(|d| d.version),
            schedule_id: new.schedule().map(|s| id_text(&s.id)),
            scheduled_at: new.schedule().map(|s| crate::time::text(s.at)),
            budget: new.budget().map(|b| b.to_json().to_string()),
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

/// The tasks of workflows `ids` (not the elements of their fan-outs) by workflow and position,
/// read in that order from `tasks_workflow_position_key`, which holds only those.
fn own_tasks(ids: Vec<String>) -> tasks::BoxedQuery<'static, Sqlite, AsSelect<TaskRow, Sqlite>> {
    tasks::table
        .filter(tasks::workflow_id.eq_any(ids))
        .filter(tasks::parent_task_id.is_null())
        .order((tasks::workflow_id, tasks::position))
        .select(TaskRow::as_select())
        .into_boxed()
}

/// The elements of the fan-outs of workflows `ids` that failed or were cancelled (which a
/// retry runs again), as (workflow id, element id), from `tasks_workflow_element_status_idx`:
/// the query costs those elements, not every element of the workflows. Unordered (an order
/// would have SQLite prefer `tasks_workflow_id_idx`, which walks every element, to sorting).
fn retried_elements(ids: Vec<String>) -> tasks::BoxedQuery<'static, Sqlite, (Text, Text)> {
    let retried = [TaskStatus::Failed, TaskStatus::Cancelled].map(TaskStatus::as_str);
    tasks::table
        .filter(tasks::workflow_id.eq_any(ids))
        .filter(tasks::status.eq_any(retried))
        .filter(tasks::parent_task_id.is_not_null())
        .select((tasks::workflow_id, tasks::id))
        .into_boxed()
}

/// The tasks of each of `ids`, by position, in one statement.
fn tasks_of(
    conn: &mut SqliteConnection,
    ids: Vec<String>,
) -> SqlResult<HashMap<String, Vec<Task>>> {
    let rows: Vec<TaskRow> = own_tasks(ids).load(conn)?;
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

/// The elements to retry of each of `ids` (oldest first), in one statement.
fn elements_to_retry(
    conn: &mut SqliteConnection,
    ids: Vec<String>,
) -> SqlResult<HashMap<String, Vec<TaskId>>> {
    let rows: Vec<(String, String)> = retried_elements(ids).load(conn)?;
    let mut by_workflow: HashMap<String, Vec<TaskId>> = HashMap::new();
    for (workflow_id, id) in rows {
        by_workflow
            .entry(workflow_id)
            .or_default()
            .push(TaskId::from_uuid(uuid(&id)?));
    }
    for ids in by_workflow.values_mut() {
        ids.sort();
    }
    Ok(by_workflow)
}

pub(crate) fn scoped(scope: Scope) -> workflows::BoxedQuery<'static, Sqlite> {
    let query = workflows::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(workflows::owner_id.eq(id_text(owner.as_uuid()))),
        None => query,
    }
}

/// One workflow with its tasks by position and the elements to retry: three statements (call
/// in a read transaction).
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
    let tasks: Vec<TaskRow> = own_tasks(vec![id.clone()]).load(conn)?;
    let retry = elements_to_retry(conn, vec![id])?
        .into_values()
        .next()
        .unwrap_or_default();
    Ok(row.into_workflow(into_tasks(tasks)?, retry)?)
}

/// A page of workflows newest first, each with its tasks and its elements to retry: three
/// statements whatever the page holds (call in a read transaction).
pub(crate) fn list(
    conn: &mut SqliteConnection,
    scope: Scope,
    filter: WorkflowFilter,
    page: PageRequest,
) -> SqlResult<Page<Workflow>> {
    let limit = page.limit.get() as usize;
    let mut query = scoped(scope);
    if let Some(status) = filter.status {
        query = query.filter(workflows::status.eq(status.stored()));
        match status {
            WorkflowStatus::Paused => query = query.filter(workflows::paused.is_not_null()),
            WorkflowStatus::Running => query = query.filter(workflows::paused.is_null()),
            _ => {}
        }
    }
    // SQLite's LIKE ignores the case of ASCII letters.
    if let Some(pattern) = filter.name_pattern() {
        query = query.filter(workflows::name.like(pattern).escape('\\'));
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
    let (mut tasks, mut retry) = if rows.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        (tasks_of(conn, ids.clone())?, elements_to_retry(conn, ids)?)
    };
    let items = rows
        .into_iter()
        .map(|row| {
            let tasks = tasks.remove(&row.id).unwrap_or_default();
            let retry = retry.remove(&row.id).unwrap_or_default();
            row.into_workflow(tasks, retry)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let next = if more {
        items.last().map(|w| *w.id.as_uuid())
    } else {
        None
    };
    Ok(Page { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::{assert_reads, migrated, plan_of};

    /// A workflow's own tasks are read in order from the partial index of positions (elements
    /// are not in it), its elements to retry from theirs: neither walks every element.
    #[test]
    fn workflow_reads_use_their_indexes() {
        let (mut conn, _dir) = migrated();
        for ids in [vec!["a".to_owned()], vec!["a".to_owned(), "b".to_owned()]] {
            let tasks = plan_of(&mut conn, &own_tasks(ids.clone()));
            assert_reads(&tasks, "tasks_workflow_position_key");
            let retried = plan_of(&mut conn, &retried_elements(ids));
            assert!(
                retried.contains(
                    "INDEX tasks_workflow_element_status_idx (workflow_id=? AND status=?)"
                ),
                "{retried}"
            );
        }
    }
}
