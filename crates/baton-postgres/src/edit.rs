//! Applying decided edits of pending workflows, guarded by the workflow version they were
//! decided from. Positions are shifted as decided; the unique constraint on positions is
//! deferred to the commit.

use baton_domain::ports::StoreError;
use baton_domain::{Change, Edit, TaskStatus, WorkflowPatch};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::descendants::{self, Purpose};
use crate::error::{PgError, PgResult};
use crate::guard::stale_or_missing;
use crate::models::{NewTaskRow, TaskFieldsRow};
use crate::schema::{tasks, workflows};

#[derive(AsChangeset)]
#[diesel(table_name = workflows)]
struct WorkflowChanges<'a> {
    name: Option<&'a str>,
    input: Option<&'a serde_json::Value>,
}

/// Moves the tasks in positions `from..=to` of a workflow by `delta` (a pending workflow's:
/// it has no elements).
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
            .filter(tasks::parent_task_id.is_null())
            .filter(tasks::position.between(from, to)),
    )
    .set(tasks::position.eq(tasks::position + delta))
    .execute(conn)
    .await?;
    Ok(())
}

async fn apply_in(conn: &mut AsyncPgConnection, edit: &Edit) -> PgResult<()> {
    let id = *edit.workflow_id.as_uuid();
    let guarded = workflows::table
        .find(id)
        .filter(workflows::version.eq(edit.version));
    if let Change::Delete = edit.change {
        // Its row first, then its descendants' (the cascade deletes them) without waiting:
        // see descendants.rs.
        let held: Option<Uuid> = guarded
            .select(workflows::id)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        if held.is_none() {
            return Err(stale_or_missing(conn, id).await);
        }
        descendants::lock(conn, id, Purpose::Delete).await?;
        diesel::delete(guarded).execute(conn).await?;
        return Ok(());
    }
    let changes = match &edit.change {
        Change::Workflow(patch) => WorkflowChanges {
            name: patch.name.as_ref().map(|n| n.as_str()),
            input: patch.input.as_ref(),
        },
        _ => WorkflowChanges {
            name: None,
            input: None,
        },
    };
    let bump = (
        workflows::version.eq(workflows::version + 1),
        workflows::updated_at.eq(now),
    );
    let owner: Option<Uuid> = if changes.name.is_some() || changes.input.is_some() {
        diesel::update(guarded)
            .set((changes, bump))
            .returning(workflows::owner_id)
            .get_result(conn)
            .await
            .optional()?
    } else {
        diesel::update(guarded)
            .set(bump)
            .returning(workflows::owner_id)
            .get_result(conn)
            .await
            .optional()?
    };
    let Some(owner_id) = owner else {
        return Err(stale_or_missing(conn, id).await);
    };
    if let Change::Workflow(WorkflowPatch {
        concurrency: Some(concurrency),
        ..
    }) = &edit.change
    {
        diesel::update(workflows::table.find(id))
            .set((
                workflows::concurrency_key.eq(concurrency.as_ref().map(|c| c.key.as_str())),
                workflows::concurrency_limit.eq(concurrency
                    .as_ref()
                    .map(|c| i32::try_from(c.limit).unwrap_or(i32::MAX))),
            ))
            .execute(conn)
            .await?;
    }
    if let Change::Workflow(WorkflowPatch {
        budget: Some(budget),
        ..
    }) = &edit.change
    {
        diesel::update(workflows::table.find(id))
            .set(workflows::budget.eq(budget.map(|b| b.to_json())))
            .execute(conn)
            .await?;
    }
    match &edit.change {
        Change::Workflow(_) | Change::Delete => {}
        Change::AddTask { task, position } => {
            shift(conn, id, *position, i32::MAX, 1).await?;
            diesel::insert_into(tasks::table)
                .values(NewTaskRow {
                    id: *task.id().as_uuid(),
                    workflow_id: id,
                    owner_id,
                    position: *position,
                    status: TaskStatus::Pending.as_str(),
                    fields: TaskFieldsRow::from_new(task),
                })
                .execute(conn)
                .await?;
        }
        Change::UpdateTask { task, from, to } => {
            if to > from {
                shift(conn, id, from + 1, *to, -1).await?;
            } else if to < from {
                shift(conn, id, *to, from - 1, 1).await?;
            }
            diesel::update(tasks::table.find(*task.id.as_uuid()))
                .set((
                    TaskFieldsRow::from_task(task),
                    tasks::position.eq(to),
                    tasks::version.eq(tasks::version + 1),
                    tasks::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
        }
        Change::DeleteTask { task_id, position } => {
            diesel::delete(tasks::table.find(*task_id.as_uuid()))
                .execute(conn)
                .await?;
            shift(conn, id, position + 1, i32::MAX, -1).await?;
        }
    }
    Ok(())
}

pub(crate) async fn apply(conn: &mut AsyncPgConnection, edit: &Edit) -> Result<(), StoreError> {
    let mut backoff = descendants::Backoff::new();
    loop {
        let result: PgResult<()> = conn
            .transaction(async |conn| apply_in(conn, edit).await)
            .await;
        match result {
            Err(PgError::Busy) if backoff.wait().await => {}
            other => return Ok(other?),
        }
    }
}
