//! Starting, cancelling and retrying workflows.

use baton_domain::ports::{Scope, StoreError};
use baton_domain::{TaskStatus, Workflow, WorkflowId, WorkflowStatus};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::error::PgResult;
use crate::events::{self, CANCEL_CHANNEL, WORK_CHANNEL};
use crate::models::{NewEventRow, WorkflowRow};
use crate::schema::{tasks, workflows};
use crate::workflows::{load, lock};

fn conflict(message: String) -> crate::error::PgError {
    StoreError::Conflict(message).into()
}

/// Starts a locked pending workflow: running, its first task queued, `workflow.started`.
pub(crate) async fn start_locked(conn: &mut AsyncPgConnection, row: &WorkflowRow) -> PgResult<()> {
    let status = row.status()?;
    if status != WorkflowStatus::Pending {
        return Err(conflict(format!(
            "the workflow is {status}; only a pending workflow can be started"
        )));
    }
    let queued = diesel::update(
        tasks::table
            .filter(tasks::workflow_id.eq(row.id))
            .filter(tasks::position.eq(0)),
    )
    .set((
        tasks::status.eq(TaskStatus::Queued.as_str()),
        tasks::available_at.eq(now),
        tasks::updated_at.eq(now),
        tasks::version.eq(tasks::version + 1),
    ))
    .execute(conn)
    .await?;
    if queued == 0 {
        return Err(conflict("the workflow has no tasks to run".into()));
    }
    diesel::update(workflows::table.find(row.id))
        .set((
            workflows::status.eq(WorkflowStatus::Running.as_str()),
            workflows::started_at.eq(now),
            workflows::current_position.eq(0),
            workflows::updated_at.eq(now),
            workflows::version.eq(workflows::version + 1),
        ))
        .execute(conn)
        .await?;
    events::append(
        conn,
        vec![NewEventRow::workflow(row.id, "workflow.started", json!({}))],
    )
    .await?;
    events::notify(conn, WORK_CHANNEL, "").await
}

pub(crate) async fn start(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: WorkflowId,
) -> Result<Workflow, StoreError> {
    let id = *id.as_uuid();
    let result: PgResult<Workflow> = conn
        .transaction(async |conn| {
            let row = lock(conn, scope, id).await?;
            start_locked(conn, &row).await?;
            load(conn, Scope::All, id).await
        })
        .await;
    Ok(result?)
}

pub(crate) async fn cancel(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: WorkflowId,
) -> Result<Workflow, StoreError> {
    let id = *id.as_uuid();
    let result: PgResult<Workflow> = conn
        .transaction(async |conn| {
            let row = lock(conn, scope, id).await?;
            let status = row.status()?;
            if !status.can_become(WorkflowStatus::Cancelled) || status == WorkflowStatus::Failed {
                return Err(conflict(format!(
                    "the workflow is {status}; only a pending or running workflow can be cancelled"
                )));
            }
            let unfinished = [
                TaskStatus::Pending.as_str(),
                TaskStatus::Queued.as_str(),
                TaskStatus::Running.as_str(),
            ];
            diesel::update(
                tasks::table
                    .filter(tasks::workflow_id.eq(id))
                    .filter(tasks::status.eq_any(unfinished)),
            )
            .set((
                tasks::status.eq(TaskStatus::Cancelled.as_str()),
                tasks::lease_owner.eq(None::<String>),
                tasks::lease_expires_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                tasks::finished_at.eq(now),
                tasks::updated_at.eq(now),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)
            .await?;
            diesel::update(workflows::table.find(id))
                .set((
                    workflows::status.eq(WorkflowStatus::Cancelled.as_str()),
                    workflows::finished_at.eq(now),
                    workflows::updated_at.eq(now),
                    workflows::version.eq(workflows::version + 1),
                ))
                .execute(conn)
                .await?;
            events::append(
                conn,
                vec![NewEventRow::workflow(id, "workflow.cancelled", json!({}))],
            )
            .await?;
            events::notify(conn, CANCEL_CHANNEL, &id.to_string()).await?;
            load(conn, Scope::All, id).await
        })
        .await;
    Ok(result?)
}

pub(crate) async fn retry(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: WorkflowId,
) -> Result<Workflow, StoreError> {
    let id: Uuid = *id.as_uuid();
    let result: PgResult<Workflow> = conn
        .transaction(async |conn| {
            let row = lock(conn, scope, id).await?;
            let status = row.status()?;
            if status != WorkflowStatus::Failed {
                return Err(conflict(format!(
                    "the workflow is {status}; only a failed workflow can be retried"
                )));
            }
            // A fresh attempt budget; the lease token, not the attempt, fences old runs out.
            diesel::update(
                tasks::table
                    .filter(tasks::workflow_id.eq(id))
                    .filter(tasks::status.eq(TaskStatus::Failed.as_str())),
            )
            .set((
                tasks::status.eq(TaskStatus::Queued.as_str()),
                tasks::attempt.eq(0),
                tasks::available_at.eq(now),
                tasks::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                tasks::updated_at.eq(now),
                tasks::version.eq(tasks::version + 1),
            ))
            .execute(conn)
            .await?;
            diesel::update(workflows::table.find(id))
                .set((
                    workflows::status.eq(WorkflowStatus::Running.as_str()),
                    workflows::error.eq(None::<serde_json::Value>),
                    workflows::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                    workflows::updated_at.eq(now),
                    workflows::version.eq(workflows::version + 1),
                ))
                .execute(conn)
                .await?;
            events::append(
                conn,
                vec![NewEventRow::workflow(
                    id,
                    "workflow.started",
                    json!({"retry": true}),
                )],
            )
            .await?;
            events::notify(conn, WORK_CHANNEL, "").await?;
            load(conn, Scope::All, id).await
        })
        .await;
    Ok(result?)
}
