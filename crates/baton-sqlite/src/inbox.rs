//! Signals sent to workflows: kept until a `wait` task consumes one. SQLite has one writer: a
//! signal and a park of a wait for it are applied one after the other, and whichever comes
//! second sees the first (the park's EXISTS in steps.rs; the signal's wake here).

use baton_domain::ports::{Scope, StoreError};
use baton_domain::{
    EventKind, NewEvent, NewSignal, ReceivedSignal, SignalId, TaskId, WorkflowId, WorkflowStatus,
};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::error::SqlResult;
use crate::events;
use crate::models::{id_text, uuid};
use crate::schema::{signals, workflows};
use crate::time::{now, parse, parse_opt};

/// The most signals a workflow's list shows.
const LIST_LIMIT: i64 = 1_000;

type SignalRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The columns a [`SignalRow`] is read from.
const COLUMNS: (
    signals::id,
    signals::workflow_id,
    signals::name,
    signals::payload,
    signals::created_at,
    signals::consumed_by,
    signals::consumed_at,
) = (
    signals::id,
    signals::workflow_id,
    signals::name,
    signals::payload,
    signals::created_at,
    signals::consumed_by,
    signals::consumed_at,
);

fn received(row: SignalRow) -> anyhow::Result<ReceivedSignal> {
    let (id, workflow_id, name, payload, created_at, consumed_by, consumed_at) = row;
    Ok(ReceivedSignal {
        id: SignalId::from_uuid(uuid(&id)?),
        workflow_id: WorkflowId::from_uuid(uuid(&workflow_id)?),
        name,
        payload: serde_json::from_str(&payload)?,
        created_at: parse(&created_at)?,
        consumed_by: consumed_by
            .as_deref()
            .map(|id| uuid(id).map(TaskId::from_uuid))
            .transpose()?,
        consumed_at: parse_opt(consumed_at.as_deref())?,
    })
}

/// The waits of a workflow parked for a name, runnable now. Binds: workflow, name.
const WAKE_SQL: &str = "
UPDATE tasks
   SET available_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       version = version + 1
 WHERE workflow_id = ?1 AND status = 'queued' AND type = 'wait'
   AND waiting_since IS NOT NULL AND input ->> '$.signal' = ?2
   AND (available_at IS NULL OR available_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

/// Keeps the signal (inside the caller's write transaction), only while the workflow's status
/// is `expected`.
pub(crate) fn send(
    conn: &mut SqliteConnection,
    signal: &NewSignal,
    expected: WorkflowStatus,
) -> SqlResult<ReceivedSignal> {
    let workflow = id_text(signal.workflow_id.as_uuid());
    let status: String = workflows::table
        .find(&workflow)
        .select(workflows::status)
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("workflow"))?;
    if status != expected.as_str() {
        return Err(StoreError::Stale("workflow").into());
    }
    let seq: Option<i64> = signals::table
        .filter(signals::workflow_id.eq(&workflow))
        .select(diesel::dsl::max(signals::seq))
        .first(conn)?;
    let row: SignalRow = diesel::insert_into(signals::table)
        .values((
            signals::id.eq(id_text(signal.id.as_uuid())),
            signals::seq.eq(seq.unwrap_or(0) + 1),
            signals::workflow_id.eq(&workflow),
            signals::name.eq(signal.name.as_str()),
            signals::payload.eq(signal.payload.to_string()),
            signals::created_at.eq(now()),
        ))
        .returning(COLUMNS)
        .get_result(conn)?;
    diesel::sql_query(WAKE_SQL)
        .bind::<Text, _>(&workflow)
        .bind::<Text, _>(signal.name.as_str())
        .execute(conn)?;
    let event = NewEvent::new(
        signal.workflow_id,
        EventKind::SignalReceived {
            signal_id: signal.id,
            name: signal.name.as_str().to_owned(),
        },
    );
    events::append(conn, [&event])?;
    Ok(received(row)?)
}

/// The signal a wait completed with, consumed by it, only while kept: else the whole step
/// fails (nothing applied).
pub(crate) fn consume(
    conn: &mut SqliteConnection,
    signal: &SignalId,
    task: TaskId,
) -> SqlResult<()> {
    let consumed = diesel::update(
        signals::table
            .find(id_text(signal.as_uuid()))
            .filter(signals::consumed_by.is_null()),
    )
    .set((
        signals::consumed_by.eq(Some(id_text(task.as_uuid()))),
        signals::consumed_at.eq(now().nullable()),
    ))
    .execute(conn)?;
    if consumed == 0 {
        return Err(anyhow::anyhow!("signal {signal} is consumed already").into());
    }
    Ok(())
}

pub(crate) fn next(
    conn: &mut SqliteConnection,
    workflow_id: WorkflowId,
    name: &str,
) -> SqlResult<Option<ReceivedSignal>> {
    let row: Option<SignalRow> = signals::table
        .filter(signals::workflow_id.eq(id_text(workflow_id.as_uuid())))
        .filter(signals::name.eq(name))
        .filter(signals::consumed_by.is_null())
        .order(signals::seq)
        .select(COLUMNS)
        .first(conn)
        .optional()?;
    Ok(row.map(received).transpose()?)
}

/// Call in a read transaction: two statements.
pub(crate) fn list(
    conn: &mut SqliteConnection,
    scope: Scope,
    workflow_id: WorkflowId,
) -> SqlResult<Vec<ReceivedSignal>> {
    let id = id_text(workflow_id.as_uuid());
    let found: Option<String> = crate::workflows::scoped(scope)
        .filter(workflows::id.eq(&id))
        .select(workflows::id)
        .first(conn)
        .optional()?;
    if found.is_none() {
        return Err(StoreError::NotFound("workflow").into());
    }
    let rows: Vec<SignalRow> = signals::table
        .filter(signals::workflow_id.eq(&id))
        .order(signals::seq)
        .limit(LIST_LIMIT)
        .select(COLUMNS)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(received)
        .collect::<anyhow::Result<_>>()?)
}
