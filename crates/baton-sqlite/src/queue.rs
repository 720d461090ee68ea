//! The rest of the executor's side: heartbeats, releases, held events and earlier steps, every
//! write fenced by the claim's lease token.

use std::time::Duration;

use baton_domain::ports::StoreError;
use baton_domain::{
    ChildOutcome, Claim, ElementResult, NewEvent, StepResult, TaskId, TaskStatus, WorkflowId,
    WorkflowStatus,
};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel::sqlite::Sqlite;

use crate::error::SqlResult;
use crate::models::{NewEventRow, id_text, json_opt};
use crate::schema::{events, tasks, workflows};
use crate::time::{later, now};

diesel::define_sql_function! {
    /// SQLite's two-argument (scalar) `max(a, b)`.
    #[sql_name = "max"]
    fn greatest(a: diesel::sql_types::Integer, b: diesel::sql_types::Integer) -> diesel::sql_types::Integer;
}

/// The claim's task, while the claim holds its lease.
fn held(claim: &Claim) -> (String, &str) {
    (id_text(claim.task.id.as_uuid()), claim.token.as_str())
}

type StepRow = (Integer, Nullable<Text>, Text, Nullable<Text>);

/// The tasks of a workflow before `position` (not the elements of their fan-outs), by
/// position, read in that order from `tasks_workflow_position_key`, which holds only those.
fn steps_query(
    workflow_id: WorkflowId,
    position: i32,
) -> tasks::BoxedQuery<'static, Sqlite, StepRow> {
    tasks::table
        .filter(tasks::workflow_id.eq(id_text(workflow_id.as_uuid())))
        .filter(tasks::parent_task_id.is_null())
        .filter(tasks::position.lt(position))
        .order(tasks::position)
        .select((tasks::position, tasks::key, tasks::status, tasks::output))
        .into_boxed()
}

/// The elements of `parent`'s fan-out by index, read in that order from
/// `tasks_parent_element_key`.
fn elements_query(
    parent: TaskId,
) -> tasks::BoxedQuery<'static, Sqlite, (Nullable<Integer>, Text, Nullable<Text>)> {
    tasks::table
        .filter(tasks::parent_task_id.eq(id_text(parent.as_uuid())))
        .order(tasks::element_index)
        .select((tasks::element_index, tasks::status, tasks::output))
        .into_boxed()
}

pub(crate) fn steps_before(
    conn: &mut SqliteConnection,
    workflow_id: WorkflowId,
    position: i32,
) -> SqlResult<Vec<StepResult>> {
    let rows: Vec<(i32, Option<String>, String, Option<String>)> =
        steps_query(workflow_id, position).load(conn)?;
    rows.into_iter()
        .map(|(position, key, status, output)| {
            Ok(StepResult {
                position,
                key,
                status: status.parse::<TaskStatus>().map_err(anyhow::Error::from)?,
                output: json_opt(output.as_deref())?,
            })
        })
        .collect()
}

/// The elements of `parent`'s fan-out by index, in one statement.
pub(crate) fn element_results(
    conn: &mut SqliteConnection,
    parent: TaskId,
) -> SqlResult<Vec<ElementResult>> {
    let rows: Vec<(Option<i32>, String, Option<String>)> = elements_query(parent).load(conn)?;
    rows.into_iter()
        .map(|(index, status, output)| {
            Ok(ElementResult {
                index: index.ok_or_else(|| anyhow::anyhow!("an element without an index"))?,
                status: status.parse::<TaskStatus>().map_err(anyhow::Error::from)?,
                output: json_opt(output.as_deref())?,
            })
        })
        .collect()
}

/// How child workflow `child` stands (its status, output and error), in one statement.
pub(crate) fn child_outcome(
    conn: &mut SqliteConnection,
    child: WorkflowId,
) -> SqlResult<ChildOutcome> {
    let row: Option<(String, Option<String>, Option<String>)> = workflows::table
        .find(id_text(child.as_uuid()))
        .select((workflows::status, workflows::output, workflows::error))
        .first(conn)
        .optional()?;
    let (status, output, error) = row.ok_or(StoreError::NotFound("workflow"))?;
    Ok(ChildOutcome {
        status: status
            .parse::<WorkflowStatus>()
            .map_err(anyhow::Error::from)?,
        output: json_opt(output.as_deref())?,
        error: json_opt(error.as_deref())?,
    })
}

pub(crate) fn heartbeat(
    conn: &mut SqliteConnection,
    claim: &Claim,
    lease: Duration,
) -> SqlResult<bool> {
    let (id, token) = held(claim);
    let updated = diesel::update(
        tasks::table
            .find(id)
            .filter(tasks::lease_owner.eq(token))
            .filter(tasks::status.eq(TaskStatus::Running.as_str())),
    )
    .set(tasks::lease_expires_at.eq(later(lease).nullable()))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Queued again at once, the interrupted attempt not counted.
pub(crate) fn release(conn: &mut SqliteConnection, claim: &Claim) -> SqlResult<bool> {
    let (id, token) = held(claim);
    let released = diesel::update(
        tasks::table
            .find(id)
            .filter(tasks::lease_owner.eq(token))
            .filter(tasks::status.eq(TaskStatus::Running.as_str())),
    )
    .set((
        tasks::status.eq(TaskStatus::Queued.as_str()),
        tasks::attempt.eq(greatest(tasks::attempt - 1, 0)),
        tasks::available_at.eq(now().nullable()),
        tasks::lease_owner.eq(None::<String>),
        tasks::lease_expires_at.eq(None::<String>),
        tasks::updated_at.eq(now()),
        tasks::version.eq(tasks::version + 1),
    ))
    .execute(conn)?;
    Ok(released == 1)
}

/// Appends `event` about the claimed attempt while the lease holds (call in a write
/// transaction: a concurrent cancel then commits before or after it, never in between).
pub(crate) fn append_held(
    conn: &mut SqliteConnection,
    claim: &Claim,
    event: &NewEvent,
) -> SqlResult<bool> {
    let (id, token) = held(claim);
    let workflow_id: Option<String> = tasks::table
        .find(&id)
        .filter(tasks::lease_owner.eq(token))
        .filter(tasks::status.eq(TaskStatus::Running.as_str()))
        .select(tasks::workflow_id)
        .first(conn)
        .optional()?;
    let Some(workflow_id) = workflow_id else {
        return Ok(false);
    };
    let row = NewEventRow {
        workflow_id,
        task_id: Some(id),
        ..NewEventRow::from(event)
    };
    diesel::insert_into(events::table)
        .values(row)
        .execute(conn)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::{assert_reads, migrated, plan_of};

    /// Earlier steps are read in order from the partial index of positions (elements are not
    /// in it), a parent's elements in order from the index of elements.
    #[test]
    fn reads_use_their_indexes() {
        let (mut conn, _dir) = migrated();
        let steps = plan_of(&mut conn, &steps_query(WorkflowId::generate(), 3));
        assert_reads(&steps, "tasks_workflow_position_key");
        let elements = plan_of(&mut conn, &elements_query(TaskId::generate()));
        assert_reads(&elements, "tasks_parent_element_key");
    }
}
