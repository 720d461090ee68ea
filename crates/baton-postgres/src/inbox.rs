//! Signals sent to workflows: kept until a `wait` task consumes one (see the waits migration
//! for how a signal and a parking wait never miss each other).

use baton_domain::ports::{Scope, StoreError};
use baton_domain::{
    EventKind, NewEvent, NewSignal, ReceivedSignal, SignalId, TaskId, TaskStatus, TaskType,
    WorkflowId, WorkflowStatus,
};
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{PgError, PgResult};
use crate::events::{self, WORK_CHANNEL};
use crate::models::NewEventRow;
use crate::schema::{signals, tasks, workflows};

/// The most signals a workflow's list shows.
const LIST_LIMIT: i64 = 1_000;

type SignalRow = (
    Uuid,
    Uuid,
    String,
    Value,
    DateTime<Utc>,
    Option<Uuid>,
    Option<DateTime<Utc>>,
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

fn received(row: SignalRow) -> ReceivedSignal {
    let (id, workflow_id, name, payload, created_at, consumed_by, consumed_at) = row;
    ReceivedSignal {
        id: SignalId::from_uuid(id),
        workflow_id: WorkflowId::from_uuid(workflow_id),
        name,
        payload,
        created_at,
        consumed_by: consumed_by.map(TaskId::from_uuid),
        consumed_at,
    }
}

pub(crate) async fn send(
    conn: &mut AsyncPgConnection,
    signal: &NewSignal,
    expected: WorkflowStatus,
) -> Result<ReceivedSignal, StoreError> {
    let result: PgResult<ReceivedSignal> = conn
        .transaction(async |conn| send_in(conn, signal, expected).await)
        .await;
    Ok(result?)
}

async fn send_in(
    conn: &mut AsyncPgConnection,
    signal: &NewSignal,
    expected: WorkflowStatus,
) -> PgResult<ReceivedSignal> {
    let workflow = *signal.workflow_id.as_uuid();
    // The workflow row first, as every appender of its events (and every step) takes it.
    let status: String = workflows::table
        .find(workflow)
        .select(workflows::status)
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound("workflow"))?;
    if status != expected.as_str() {
        return Err(StoreError::Stale("workflow").into());
    }
    let row: SignalRow = diesel::insert_into(signals::table)
        .values((
            signals::id.eq(*signal.id.as_uuid()),
            signals::workflow_id.eq(workflow),
            signals::name.eq(signal.name.as_str()),
            signals::payload.eq(&signal.payload),
        ))
        .returning(COLUMNS)
        .get_result(conn)
        .await?;
    // The waits parked for this name, runnable now (the oldest kept signal goes to the first
    // that runs; another finds none and parks again).
    let woken = diesel::update(
        tasks::table
            .filter(tasks::workflow_id.eq(workflow))
            .filter(tasks::status.eq(TaskStatus::Queued.as_str()))
            .filter(tasks::task_type.eq(TaskType::Wait.as_str()))
            .filter(tasks::waiting_since.is_not_null())
            .filter(
                tasks::input
                    .retrieve_as_text("signal")
                    .eq(signal.name.as_str()),
            )
            .filter(
                tasks::available_at
                    .is_null()
                    .or(tasks::available_at.gt(now)),
            ),
    )
    .set((
        tasks::available_at.eq(now),
        tasks::updated_at.eq(now),
        tasks::version.eq(tasks::version + 1),
    ))
    .execute(conn)
    .await?;
    let event = NewEvent::new(
        signal.workflow_id,
        EventKind::SignalReceived {
            signal_id: signal.id,
            name: signal.name.as_str().to_owned(),
        },
    );
    events::append(conn, vec![NewEventRow::from(&event)]).await?;
    if woken > 0 {
        events::notify(conn, WORK_CHANNEL, "").await?;
    }
    Ok(received(row))
}

pub(crate) async fn next(
    conn: &mut AsyncPgConnection,
    workflow_id: WorkflowId,
    name: &str,
) -> Result<Option<ReceivedSignal>, StoreError> {
    let row: Option<SignalRow> = signals::table
        .filter(signals::workflow_id.eq(*workflow_id.as_uuid()))
        .filter(signals::name.eq(name))
        .filter(signals::consumed_by.is_null())
        .order(signals::seq)
        .select(COLUMNS)
        .first(conn)
        .await
        .optional()
        .map_err(PgError::from)?;
    Ok(row.map(received))
}

pub(crate) async fn list(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    workflow_id: WorkflowId,
) -> Result<Vec<ReceivedSignal>, StoreError> {
    let id = *workflow_id.as_uuid();
    let found: Option<Uuid> = crate::workflows::scoped(scope)
        .filter(workflows::id.eq(id))
        .select(workflows::id)
        .first(conn)
        .await
        .optional()
        .map_err(PgError::from)?;
    if found.is_none() {
        return Err(StoreError::NotFound("workflow"));
    }
    let rows: Vec<SignalRow> = signals::table
        .filter(signals::workflow_id.eq(id))
        .order(signals::seq)
        .limit(LIST_LIMIT)
        .select(COLUMNS)
        .load(conn)
        .await
        .map_err(PgError::from)?;
    Ok(rows.into_iter().map(received).collect())
}
