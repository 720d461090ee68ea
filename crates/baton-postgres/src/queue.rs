//! The executor's side of the store: claims, heartbeats, and applying decided steps, all fenced
//! by the lease token (`lease_owner`, made per claim by the domain).

use std::time::Duration;

use baton_domain::ports::StoreError;
use baton_domain::{
    ChildOutcome, Claim, ElementResult, LeaseToken, NewEvent, StepResult, TaskId, TaskStatus,
    WorkflowId, WorkflowStatus,
};
use diesel::prelude::*;
use diesel::sql_types::{Array, Double, Integer, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use crate::error::PgError;
use crate::models::{ClaimJson, NewEventRow};
use crate::schema::{tasks, workflows};

pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[derive(QueryableByName)]
struct JsonAnswer {
    #[diesel(sql_type = Jsonb)]
    answer: Value,
}

// The hot path goes through typed function calls rather than `sql_query`: diesel caches their
// prepared statements per connection, while an uncached statement costs a Parse/Describe round
// trip (and Postgres counts its Sync as a transaction of its own).
diesel::define_sql_function! {
    /// See migrations/postgres/*_task_graph (and *_fan_out, whose version names an element's
    /// index in task.started): locks each claimed task's workflow row, then the task's, skipping
    /// those another transaction holds.
    fn baton_claim(worker: Text, tokens: Array<Text>, lease_ms: Double) -> Jsonb;
}

diesel::define_sql_function! {
    /// See migrations/postgres/*_task_graph: locks the workflow row (waiting), then appends the
    /// event while the lease is held.
    fn baton_append_held(
        task: SqlUuid,
        token: Text,
        attempt: Nullable<Integer>,
        event_type: Text,
        data: Jsonb,
    ) -> Bool;
}

pub(crate) fn parse_claim(value: Value) -> Result<Claim, StoreError> {
    let json: ClaimJson = serde_json::from_value(value)
        .map_err(|e| StoreError::Unknown(anyhow::Error::new(e).context("a claimed task")))?;
    Claim::try_from(json).map_err(StoreError::Unknown)
}

fn parse_claims(value: Value) -> Result<Vec<Claim>, StoreError> {
    match value {
        Value::Array(items) => items.into_iter().map(parse_claim).collect(),
        _ => Ok(Vec::new()),
    }
}

/// The worker all of a claim batch's tokens belong to.
fn worker_of(tokens: &[LeaseToken]) -> &str {
    tokens.first().map_or("", LeaseToken::worker)
}

pub(crate) async fn claim(
    conn: &mut AsyncPgConnection,
    tokens: &[LeaseToken],
    lease: Duration,
) -> Result<Vec<Claim>, StoreError> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let token_texts: Vec<&str> = tokens.iter().map(LeaseToken::as_str).collect();
    let answer: Value = diesel::select(baton_claim(worker_of(tokens), token_texts, millis(lease)))
        .get_result(conn)
        .await
        .map_err(PgError::from)?;
    parse_claims(answer)
}

pub(crate) async fn steps_before(
    conn: &mut AsyncPgConnection,
    workflow_id: WorkflowId,
    position: i32,
) -> Result<Vec<StepResult>, StoreError> {
    let rows: Vec<(i32, Option<String>, String, Option<Value>)> = tasks::table
        .filter(tasks::workflow_id.eq(*workflow_id.as_uuid()))
        .filter(tasks::parent_task_id.is_null())
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

/// How the child workflow `child` stands, in one statement.
pub(crate) async fn child_outcome(
    conn: &mut AsyncPgConnection,
    child: WorkflowId,
) -> Result<ChildOutcome, StoreError> {
    let (status, output, error): (String, Option<Value>, Option<Value>) = workflows::table
        .find(*child.as_uuid())
        .select((workflows::status, workflows::output, workflows::error))
        .first(conn)
        .await
        .optional()
        .map_err(PgError::from)?
        .ok_or(StoreError::NotFound("workflow"))?;
    Ok(ChildOutcome {
        status: status
            .parse::<WorkflowStatus>()
            .map_err(|e| StoreError::Unknown(e.into()))?,
        output,
        error,
    })
}

/// The elements of `parent`'s fan-out by index, in one statement (on
/// `tasks_parent_element_key`).
pub(crate) async fn element_results(
    conn: &mut AsyncPgConnection,
    parent: TaskId,
) -> Result<Vec<ElementResult>, StoreError> {
    let rows: Vec<(Option<i32>, String, Option<Value>)> = tasks::table
        .filter(tasks::parent_task_id.eq(*parent.as_uuid()))
        .order(tasks::element_index)
        .select((tasks::element_index, tasks::status, tasks::output))
        .load(conn)
        .await
        .map_err(PgError::from)?;
    rows.into_iter()
        .map(|(index, status, output)| {
            Ok(ElementResult {
                index: index.ok_or_else(|| {
                    StoreError::Unknown(anyhow::anyhow!("an element of {parent} without an index"))
                })?,
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
    .bind::<Text, _>(claim.token.as_str())
    .execute(conn)
    .await
    .map_err(PgError::from)?;
    Ok(updated == 1)
}

/// Claims whose lease has expired, for the reaper (a read: it applies its decisions as steps).
pub(crate) async fn expired(
    conn: &mut AsyncPgConnection,
    limit: u32,
) -> Result<Vec<Claim>, StoreError> {
    let row: JsonAnswer = diesel::sql_query(
        "SELECT coalesce(jsonb_agg(baton_claim_json(t) ORDER BY t.lease_expires_at), '[]') AS answer
           FROM (SELECT * FROM tasks
                  WHERE status = 'running' AND lease_expires_at < now()
                  ORDER BY lease_expires_at
                  LIMIT $1) t",
    )
    .bind::<Integer, _>(i32::try_from(limit).unwrap_or(i32::MAX))
    .get_result(conn)
    .await
    .map_err(PgError::from)?;
    parse_claims(row.answer)
}

/// Hands a running task back (queued). It appends no event, so it takes no workflow lock: one
/// statement locking only the task row, it waits for nothing while holding a lock.
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
    .bind::<Text, _>(claim.token.as_str())
    .execute(conn)
    .await
    .map_err(PgError::from)?;
    Ok(released == 1)
}

/// One statement (`baton_append_held`): the workflow row is locked until the commit, so that
/// the event commits in id order with the workflow's others; refused once the lease is gone.
pub(crate) async fn append_held(
    conn: &mut AsyncPgConnection,
    claim: &Claim,
    event: &NewEvent,
) -> Result<bool, StoreError> {
    let row = NewEventRow::from(event);
    let appended: bool = diesel::select(baton_append_held(
        *claim.task.id.as_uuid(),
        claim.token.as_str(),
        row.attempt,
        row.event_type,
        &row.data,
    ))
    .get_result(conn)
    .await
    .map_err(PgError::from)?;
    Ok(appended)
}
