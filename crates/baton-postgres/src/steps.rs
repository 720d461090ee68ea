//! Applying decided steps: one alone (`baton_apply_step`, one statement, one commit), or a
//! batch of them (`baton_apply_steps`, one statement, one commit for all), each fenced by its
//! own lease token.

use baton_domain::ports::StoreError;
use baton_domain::{
    Fence, NewElement, NewEvent, StepApplied, StepCommit, TaskOutcome, WorkflowOutcome,
};
use chrono::{DateTime, Utc};
use diesel::sql_types::{
    Array, Bool, Double, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{PgError, PgResult};
use crate::models::NewEventRow;
use crate::queue::{millis, parse_claim};

diesel::define_sql_function! {
    /// See migrations/postgres/*_waits (and *_child_workflows, *_fan_out, *_task_graph, which
    /// it extends).
    #[allow(clippy::too_many_arguments)]
    fn baton_apply_step(
        workflow: SqlUuid,
        task: SqlUuid,
        token: Text,
        expired_only: Bool,
        status: Text,
        output: Nullable<Jsonb>,
        error: Nullable<Jsonb>,
        retry_ms: Nullable<Double>,
        resolved: Nullable<Jsonb>,
        elements: Nullable<Jsonb>,
        child: Nullable<SqlUuid>,
        doc_id: Nullable<SqlUuid>,
        doc_collection: Nullable<Text>,
        doc_data: Nullable<Jsonb>,
        queue: Array<SqlUuid>,
        claim_task: Nullable<SqlUuid>,
        claim_token: Nullable<Text>,
        lease_ms: Nullable<Double>,
        release: Array<SqlUuid>,
        wf_status: Nullable<Text>,
        output_task: Nullable<SqlUuid>,
        advance_to: Nullable<Integer>,
        wf_error: Nullable<Jsonb>,
        parent_task: Nullable<SqlUuid>,
        events: Jsonb,
        then_token: Nullable<Text>,
        worker: Text,
        until: Nullable<Timestamptz>,
        signal: Nullable<Text>,
        consume: Nullable<SqlUuid>,
    ) -> Jsonb;
}

diesel::define_sql_function! {
    /// See migrations/postgres/*_batched_steps: `baton_apply_step` for each step of the array,
    /// in order, in one statement; their answers, in the same order.
    fn baton_apply_steps(steps: Jsonb) -> Jsonb;
}

/// A step as the step function takes it: its arguments, by name (`None` is SQL NULL; in a
/// batch an absent key, which `->` reads as NULL).
#[derive(Serialize)]
struct StepArgs<'a> {
    workflow: Uuid,
    task: Uuid,
    token: &'a str,
    expired_only: bool,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elements: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    child: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    doc_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    doc_collection: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    doc_data: Option<&'a Value>,
    queue: Vec<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_task: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_ms: Option<f64>,
    release: Vec<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wf_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_task: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    advance_to: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wf_error: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_task: Option<Uuid>,
    events: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    then_token: Option<&'a str>,
    worker: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consume: Option<Uuid>,
}

impl<'a> StepArgs<'a> {
    fn of(step: &'a StepCommit) -> Self {
        let (status, output, error, retry_ms) = match &step.outcome {
            TaskOutcome::Completed { output } => ("completed", Some(output), None, None),
            TaskOutcome::Skipped { .. } => ("skipped", None, None, None),
            TaskOutcome::Expand { .. } => ("pending", None, None, None),
            TaskOutcome::StartChild { .. } => ("child", None, None, None),
            TaskOutcome::Wait { .. } => ("waiting", None, None, None),
            TaskOutcome::Retry { after, error } => {
                ("queued", None, Some(error), Some(millis(*after)))
            }
            TaskOutcome::Failed { error } => ("failed", None, Some(error), None),
        };
        let (wf_status, output_task, advance_to, wf_error, parent_task) = match &step.workflow {
            WorkflowOutcome::TaskDone {
                output_task,
                advance_to,
                parent_task,
            } => (
                Some("task_done"),
                Some(*output_task.as_uuid()),
                *advance_to,
                None,
                parent_task.map(|p| *p.as_uuid()),
            ),
            WorkflowOutcome::Unchanged => (None, None, None, None, None),
            WorkflowOutcome::Failed { error, parent_task } => (
                Some("failed"),
                None,
                None,
                Some(error),
                parent_task.map(|p| *p.as_uuid()),
            ),
        };
        let (until, signal) = match &step.outcome {
            TaskOutcome::Wait { until, signal } => (*until, signal.as_deref()),
            _ => (None, None),
        };
        let document = step.document.as_ref();
        Self {
            workflow: *step.workflow_id.as_uuid(),
            task: *step.task_id.as_uuid(),
            token: step.token.as_str(),
            expired_only: step.fence == Fence::Expired,
            status,
            output,
            error,
            retry_ms,
            resolved: step.resolved_input.as_ref(),
            elements: match &step.outcome {
                TaskOutcome::Expand { elements } => Some(elements_json(elements)),
                _ => None,
            },
            child: match &step.outcome {
                TaskOutcome::StartChild { workflow, .. } => Some(*workflow.id().as_uuid()),
                _ => None,
            },
            doc_id: document.map(|d| d.id),
            doc_collection: document.map(|d| d.collection.as_str()),
            doc_data: document.map(|d| &d.data),
            queue: step.queue.iter().map(|id| *id.as_uuid()).collect(),
            claim_task: step.claim_task.as_ref().map(|(id, _)| *id.as_uuid()),
            claim_token: step
                .claim_task
                .as_ref()
                .map(|(_, next)| next.token.as_str()),
            lease_ms: step
                .claim_task
                .as_ref()
                .map(|(_, next)| next.lease)
                .or(step.then_claim.as_ref().map(|next| next.lease))
                .map(millis),
            release: step.release.iter().map(|id| *id.as_uuid()).collect(),
            wf_status,
            output_task,
            advance_to,
            wf_error,
            parent_task,
            events: events_json(&step.events),
            then_token: step.then_claim.as_ref().map(|next| next.token.as_str()),
            worker: step
                .then_claim
                .as_ref()
                .map(|next| next.token.worker())
                .unwrap_or_else(|| step.token.worker()),
            until,
            signal,
            consume: step.consume_signal.map(|id| *id.as_uuid()),
        }
    }
}

/// Whether a step may share its commit with others. A child's start stores the child in the
/// same transaction (Rust, not the step function); a child workflow's steps may lock their
/// parent's row, which a batch locked in the order of its own workflows could not promise.
fn batchable(step: &StepCommit) -> bool {
    let child_workflow = match &step.workflow {
        WorkflowOutcome::TaskDone { parent_task, .. }
        | WorkflowOutcome::Failed { parent_task, .. } => parent_task.is_some(),
        WorkflowOutcome::Unchanged => false,
    };
    !child_workflow && !matches!(step.outcome, TaskOutcome::StartChild { .. })
}

/// The step's events as the step function takes them.
fn events_json(events: &[NewEvent]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|event| {
                let row = NewEventRow::from(event);
                json!({
                    "task_id": row.task_id,
                    "attempt": row.attempt,
                    "type": row.event_type,
                    "data": row.data,
                    "retry_at": matches!(event.kind, baton_domain::EventKind::TaskRetrying { .. }),
                })
            })
            .collect(),
    )
}

/// A fan-out's elements as the step function inserts them (`jsonb_to_recordset`).
fn elements_json(elements: &[NewElement]) -> Value {
    Value::Array(
        elements
            .iter()
            .map(|element| {
                json!({
                    "id": element.id,
                    "index": element.index,
                    "item": element.item,
                    "dependents": element.dependents,
                    "waiting_on": element.waiting_on,
                })
            })
            .collect(),
    )
}

/// What the step function answered.
fn applied(answer: &Value) -> Result<StepApplied, StoreError> {
    if answer["outcome"] == "lost" {
        return Ok(StepApplied::Lost);
    }
    let next = match answer.get("next") {
        Some(next) if !next.is_null() => Some(Box::new(parse_claim(next.clone())?)),
        _ => None,
    };
    Ok(StepApplied::Applied { next })
}

/// One statement, one commit: see `baton_apply_step` in the waits migration (it locks the
/// workflow row first, so that the workflow's events commit in id order; an expansion inserts
/// its elements in the same statement).
pub(crate) async fn apply_step(
    conn: &mut AsyncPgConnection,
    step: &StepCommit,
) -> Result<StepApplied, StoreError> {
    let a = StepArgs::of(step);
    let call = diesel::select(baton_apply_step(
        a.workflow,
        a.task,
        a.token,
        a.expired_only,
        a.status,
        a.output,
        a.error,
        a.retry_ms,
        a.resolved,
        a.elements,
        a.child,
        a.doc_id,
        a.doc_collection,
        a.doc_data,
        a.queue,
        a.claim_task,
        a.claim_token,
        a.lease_ms,
        a.release,
        a.wf_status,
        a.output_task,
        a.advance_to,
        a.wf_error,
        a.parent_task,
        a.events,
        a.then_token,
        a.worker,
        a.until,
        a.signal,
        a.consume,
    ));
    let answer: Value = match &step.outcome {
        TaskOutcome::StartChild { workflow, start } => {
            // Rare: the step, then (when it applied) the child stored and started as
            // create_workflow does, in one transaction. The step holds this workflow's row;
            // the child's is new, seen by nobody before the commit.
            let answer: PgResult<Value> = conn
                .transaction(async |conn| {
                    let answer: Value = call.get_result(conn).await?;
                    if answer["outcome"] != "lost" {
                        crate::workflows::create_in(conn, workflow, Some(start.as_ref())).await?;
                    }
                    Ok(answer)
                })
                .await;
            answer?
        }
        _ => call.get_result(conn).await.map_err(PgError::from)?,
    };
    applied(&answer)
}

/// The batchable steps in one statement and one commit, locking their workflows' rows in one
/// order (by id: two batches never wait for each other in a cycle); the others alone. When the
/// batch raises (a step broke an invariant, or the database refused), nothing of it was
/// applied: each of its steps is applied alone, so only the one at fault answers the error.
pub(crate) async fn apply_steps(
    conn: &mut AsyncPgConnection,
    steps: &[&StepCommit],
) -> Vec<Result<StepApplied, StoreError>> {
    let mut answers: Vec<Option<Result<StepApplied, StoreError>>> =
        steps.iter().map(|_| None).collect();
    let mut batch: Vec<usize> = (0..steps.len()).filter(|&i| batchable(steps[i])).collect();
    if batch.len() > 1 {
        batch.sort_by_key(|&i| *steps[i].workflow_id.as_uuid());
        let args: Vec<StepArgs<'_>> = batch.iter().map(|&i| StepArgs::of(steps[i])).collect();
        let json = serde_json::to_value(&args);
        let answered = match json {
            Ok(json) => diesel::select(baton_apply_steps(json))
                .get_result::<Value>(conn)
                .await
                .map_err(|e| StoreError::from(PgError::from(e))),
            Err(e) => Err(StoreError::Unknown(anyhow::Error::new(e))),
        };
        match answered {
            Ok(Value::Array(each)) if each.len() == batch.len() => {
                for (&i, answer) in batch.iter().zip(each.iter()) {
                    answers[i] = Some(applied(answer));
                }
            }
            Ok(other) => {
                tracing::warn!(answer = %other, "the batched step function answered oddly");
            }
            Err(err) => {
                tracing::info!(error = %err, steps = batch.len(), "a batch of steps was refused; applying each alone");
            }
        }
    }
    let mut each = Vec::with_capacity(steps.len());
    for (step, answer) in steps.iter().zip(answers) {
        each.push(match answer {
            Some(answer) => answer,
            None => apply_step(conn, step).await,
        });
    }
    each
}
