//! The executor's side of the store: claims, heartbeats, completions and failures, all fenced by
//! the lease token (`lease_owner`, unique per claim).

use std::time::Duration;

use baton_domain::ports::StoreError;
use baton_domain::{
    Claim, Completed, Failed, NewDocument, StepResult, TaskError, TaskStatus, WorkflowId,
    WorkflowStatus,
};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{Double, Integer, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::error::{PgError, PgResult};
use crate::events;
use crate::models::{ClaimJson, ClaimRow, NewEventRow};
use crate::schema::{tasks, workflows};

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

diesel::define_sql_function! {
    /// See migrations/postgres/*_step_functions.
    fn baton_claim(worker: Text, lease_ms: Double, limit: Integer) -> Jsonb;
}

diesel::define_sql_function! {
    /// See migrations/postgres/*_step_functions.
    #[allow(clippy::too_many_arguments)]
    fn baton_complete(
        task: SqlUuid,
        token: Text,
        output: Jsonb,
        resolved: Jsonb,
        doc_id: Nullable<SqlUuid>,
        doc_collection: Nullable<Text>,
        doc_data: Nullable<Jsonb>,
        worker: Text,
        lease_ms: Nullable<Double>,
    ) -> Jsonb;
}

fn parse_claim(value: Value) -> Result<Claim, StoreError> {
    let json: ClaimJson = serde_json::from_value(value)
        .map_err(|e| StoreError::Unknown(anyhow::Error::new(e).context("a claimed task")))?;
    Claim::try_from(json).map_err(StoreError::Unknown)
}

const EXPIRED_SQL: &str = "
SELECT t.*, t.type AS task_type, w.name AS workflow_name, w.input AS workflow_input
  FROM tasks t JOIN workflows w ON w.id = t.workflow_id
 WHERE t.status = 'running' AND t.lease_expires_at < now()
 ORDER BY t.lease_expires_at
 LIMIT $1";

fn into_claims(rows: Vec<ClaimRow>) -> Result<Vec<Claim>, StoreError> {
    rows.into_iter()
        .map(|row| Claim::try_from(row).map_err(StoreError::Unknown))
        .collect()
}

fn worker_of(claim: &Claim) -> &str {
    claim.token().split('/').next().unwrap_or_default()
}

pub(crate) async fn claim(
    conn: &mut AsyncPgConnection,
    worker: &str,
    limit: u32,
    lease: Duration,
) -> Result<Vec<Claim>, StoreError> {
    let claimed: Value = diesel::select(baton_claim(
        worker,
        millis(lease),
        i32::try_from(limit).unwrap_or(i32::MAX),
    ))
    .get_result(conn)
    .await
    .map_err(PgError::from)?;
    match claimed {
        Value::Array(items) => items.into_iter().map(parse_claim).collect(),
        _ => Ok(Vec::new()),
    }
}

pub(crate) async fn steps_before(
    conn: &mut AsyncPgConnection,
    workflow_id: WorkflowId,
    position: i32,
) -> Result<Vec<StepResult>, StoreError> {
    let rows: Vec<(i32, Option<String>, String, Option<Value>)> = tasks::table
        .filter(tasks::workflow_id.eq(*workflow_id.as_uuid()))
        .filter(tasks::position.lt(position))
        .order(tasks::position)
        .select((tasks::position, tasks::key, tasks::status, tasks::output))
        .load(conn)
        .await
        .map_err(PgError::from)?;
    rows.into_iter()
        .map(|(position, key, status, output)| {
            Ok(StepResult {
                position,
                key,
                status: status
                    .parse::<TaskStatus>()
                    .map_err(|e| StoreError::Unknown(e.into()))?,
                output,
            })
        })
        .collect()
}

pub(crate) async fn heartbeat(
    conn: &mut AsyncPgConnection,
    claim: &Claim,
    lease: Duration,
) -> Result<bool, StoreError> {
    let updated = diesel::sql_query(
        "UPDATE tasks SET lease_expires_at = now() + $1 * interval '1 millisecond'
          WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
    )
    .bind::<Double, _>(millis(lease))
    .bind::<SqlUuid, _>(*claim.task.id.as_uuid())
    .bind::<Text, _>(claim.token())
    .execute(conn)
    .await
    .map_err(PgError::from)?;
    Ok(updated == 1)
}

/// The row of a claimed task, only while this claim still holds its lease.
macro_rules! fenced {
    ($claim:expr) => {
        tasks::table
            .filter(tasks::id.eq(*$claim.task.id.as_uuid()))
            .filter(tasks::lease_owner.eq($claim.token().to_owned()))
            .filter(tasks::status.eq(TaskStatus::Running.as_str()))
    };
}

#[derive(serde::Deserialize)]
struct Completion {
    outcome: String,
    next: Option<Value>,
}

/// One statement, one commit: see `baton_complete` in the step-functions migration.
pub(crate) async fn complete(
    conn: &mut AsyncPgConnection,
    claim: &Claim,
    resolved_input: &Value,
    output: Value,
    document: Option<NewDocument>,
    continue_lease: Option<Duration>,
) -> Result<Option<Completed>, StoreError> {
    let (doc_id, doc_collection, doc_data) = match document {
        Some(doc) => (Some(doc.id), Some(doc.collection), Some(doc.data)),
        None => (None, None, None),
    };
    let answer: Value = diesel::select(baton_complete(
        *claim.task.id.as_uuid(),
        claim.token(),
        output,
        resolved_input,
        doc_id,
        doc_collection,
        doc_data,
        worker_of(claim),
        continue_lease.map(millis),
    ))
    .get_result(conn)
    .await
    .map_err(PgError::from)?;
    let completion: Completion = serde_json::from_value(answer)
        .map_err(|e| StoreError::Unknown(anyhow::Error::new(e).context("baton_complete")))?;
    let next = completion
        .next
        .filter(|n| !n.is_null())
        .map(parse_claim)
        .transpose()?
        .map(Box::new);
    Ok(match (completion.outcome.as_str(), next) {
        ("lost", _) => None,
        ("next", Some(next)) => Some(Completed::Next(next)),
        ("completed", next) => Some(Completed::WorkflowCompleted { next }),
        _ => Some(Completed::Queued),
    })
}

pub(crate) async fn fail(
    conn: &mut AsyncPgConnection,
    claim: &Claim,
    resolved_input: Option<&Value>,
    error: &TaskError,
    retry_in: Option<Duration>,
    only_if_expired: bool,
) -> Result<Option<Failed>, StoreError> {
    let task = &claim.task;
    let task_id = *task.id.as_uuid();
    let workflow_id = *task.workflow_id.as_uuid();
    let error_json = error.to_json(claim.attempt());
    let result: PgResult<Option<Failed>> = conn
        .transaction(async |conn| {
            let resolved = resolved_input.cloned();
            match retry_in {
                Some(delay) => {
                    let rows: Vec<RetryRow> = diesel::sql_query(RETRY_SQL)
                        .bind::<Double, _>(millis(delay))
                        .bind::<diesel::sql_types::Jsonb, _>(&error_json)
                        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Jsonb>, _>(
                            resolved.as_ref(),
                        )
                        .bind::<SqlUuid, _>(task_id)
                        .bind::<Text, _>(claim.token())
                        .bind::<diesel::sql_types::Bool, _>(only_if_expired)
                        .load(conn)
                        .await?;
                    let Some(row) = rows.into_iter().next() else {
                        return Ok(None);
                    };
                    events::append(
                        conn,
                        vec![NewEventRow::task(
                            workflow_id,
                            task_id,
                            task.attempt,
                            "task.retrying",
                            json!({
                                "task_id": task_id,
                                "attempt": task.attempt,
                                "error": error_json,
                                "retry_at": row.available_at,
                            }),
                        )],
                    )
                    .await?;
                    Ok(Some(Failed::Retrying))
                }
                None => {
                    let mut update = diesel::update(fenced!(claim)).into_boxed();
                    if only_if_expired {
                        update = update.filter(tasks::lease_expires_at.lt(now));
                    }
                    let done = update
                        .set((
                            tasks::status.eq(TaskStatus::Failed.as_str()),
                            tasks::error.eq(&error_json),
                            tasks::resolved_input.eq(resolved.as_ref()),
                            tasks::lease_owner.eq(None::<String>),
                            tasks::lease_expires_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                            tasks::finished_at.eq(now),
                            tasks::updated_at.eq(now),
                            tasks::version.eq(tasks::version + 1),
                        ))
                        .execute(conn)
                        .await?;
                    if done == 0 {
                        return Ok(None);
                    }
                    let workflow_error = json!({
                        "task_id": task_id,
                        "position": task.position,
                        "key": task.key,
                        "kind": error.kind,
                        "message": error.message,
                    });
                    let task_failed = NewEventRow::task(
                        workflow_id,
                        task_id,
                        task.attempt,
                        "task.failed",
                        json!({"task_id": task_id, "error": error_json}),
                    );
                    finish(
                        conn,
                        workflow_id,
                        WorkflowStatus::Failed,
                        &workflow_error,
                        vec![task_failed],
                    )
                    .await?;
                    Ok(Some(Failed::WorkflowFailed))
                }
            }
        })
        .await;
    Ok(result?)
}

/// Ends a running workflow — `completed` with `result` as its output, or `failed` with `result` as
/// its error — appending `events` then the workflow's own terminal event.
async fn finish(
    conn: &mut AsyncPgConnection,
    workflow_id: uuid::Uuid,
    status: WorkflowStatus,
    result: &Value,
    mut events: Vec<NewEventRow>,
) -> PgResult<()> {
    let running = workflows::table
        .find(workflow_id)
        .filter(workflows::status.eq(WorkflowStatus::Running.as_str()));
    let common = (
        workflows::status.eq(status.as_str()),
        workflows::finished_at.eq(now),
        workflows::updated_at.eq(now),
        workflows::version.eq(workflows::version + 1),
    );
    let (event_type, data) = if status == WorkflowStatus::Completed {
        diesel::update(running)
            .set((common, workflows::output.eq(result)))
            .execute(conn)
            .await?;
        ("workflow.completed", json!({"output": result}))
    } else {
        diesel::update(running)
            .set((common, workflows::error.eq(result)))
            .execute(conn)
            .await?;
        ("workflow.failed", json!({"error": result}))
    };
    events.push(NewEventRow::workflow(workflow_id, event_type, data));
    events::append(conn, events).await
}

#[derive(QueryableByName)]
struct RetryRow {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    available_at: chrono::DateTime<chrono::Utc>,
}

const RETRY_SQL: &str = "
UPDATE tasks
   SET status = 'queued',
       available_at = now() + $1 * interval '1 millisecond',
       error = $2,
       resolved_input = coalesce($3, resolved_input),
       lease_owner = NULL,
       lease_expires_at = NULL,
       updated_at = now(),
       version = version + 1
 WHERE id = $4 AND lease_owner = $5 AND status = 'running'
   AND (NOT $6 OR lease_expires_at < now())
RETURNING available_at";

pub(crate) async fn expired(
    conn: &mut AsyncPgConnection,
    limit: u32,
) -> Result<Vec<Claim>, StoreError> {
    let rows: Vec<ClaimRow> = diesel::sql_query(EXPIRED_SQL)
        .bind::<Integer, _>(i32::try_from(limit).unwrap_or(i32::MAX))
        .load(conn)
        .await
        .map_err(PgError::from)?;
    into_claims(rows)
}

pub(crate) async fn release(
    conn: &mut AsyncPgConnection,
    claim: &Claim,
) -> Result<bool, StoreError> {
    let released = diesel::sql_query(
        "UPDATE tasks
            SET status = 'queued', attempt = greatest(attempt - 1, 0), available_at = now(),
                lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
                version = version + 1
          WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind::<SqlUuid, _>(*claim.task.id.as_uuid())
    .bind::<Text, _>(claim.token())
    .execute(conn)
    .await
    .map_err(PgError::from)?;
    Ok(released == 1)
}

/// Locks the task row (shared) so a concurrent cancel waits for the delta to commit: events of
/// one workflow then commit in id order.
const DELTA_SQL: &str = "
INSERT INTO events (workflow_id, task_id, attempt, type, data)
SELECT workflow_id, id, attempt, 'task.delta',
       jsonb_build_object('task_id', id, 'attempt', attempt, 'text', $3::text)
  FROM (SELECT workflow_id, id, attempt FROM tasks
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'
           FOR SHARE) AS held";

pub(crate) async fn append_delta(
    conn: &mut AsyncPgConnection,
    claim: &Claim,
    text: &str,
) -> Result<bool, StoreError> {
    let inserted = diesel::sql_query(DELTA_SQL)
        .bind::<SqlUuid, _>(*claim.task.id.as_uuid())
        .bind::<Text, _>(claim.token())
        .bind::<Text, _>(text)
        .execute(conn)
        .await
        .map_err(PgError::from)?;
    Ok(inserted == 1)
}
