//! The event rows every state change appends, and reading them back (for the SSE stream).

use baton_domain::{Event, NewEvent, WorkflowId};
use diesel::SqliteConnection;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::error::SqlResult;
use crate::models::{NewEventRow, id_text, json, uuid};
use crate::prepared::Prepared;
use crate::schema::events;
use crate::time::parse;

/// The events of a JSON array of `[workflow, task, attempt, type, data]` (data as JSON text), in
/// its order: one statement (prepared once) whatever their number.
const INSERT_SQL: &str = "
INSERT INTO events (workflow_id, task_id, attempt, type, data)
SELECT e.value ->> '$[0]', e.value ->> '$[1]', e.value ->> '$[2]', e.value ->> '$[3]',
       e.value ->> '$[4]'
  FROM json_each(?1) AS e
 ORDER BY e.key";

/// Appends `events` in order, in one statement (ids increase in that order).
pub(crate) fn append<'a>(
    conn: &mut SqliteConnection,
    events: impl IntoIterator<Item = &'a NewEvent>,
) -> SqlResult<()> {
    let rows: Vec<Value> = events
        .into_iter()
        .map(|event| {
            let row = NewEventRow::from(event);
            json!([
                row.workflow_id,
                row.task_id,
                row.attempt,
                row.event_type,
                row.data
            ])
        })
        .collect();
    if !rows.is_empty() {
        Prepared::new(INSERT_SQL)
            .text(Value::Array(rows).to_string())
            .execute(conn)?;
    }
    Ok(())
}

type Row = (i64, String, String, String, String);

fn into_event(row: Row) -> anyhow::Result<Event> {
    let (id, workflow_id, event_type, data, created_at) = row;
    Ok(Event {
        id,
        workflow_id: WorkflowId::from_uuid(uuid(&workflow_id)?),
        event_type,
        data: json(&data)?,
        created_at: parse(&created_at)?,
    })
}

pub(crate) fn after(
    conn: &mut SqliteConnection,
    workflow_id: WorkflowId,
    after: i64,
    limit: u32,
) -> SqlResult<Vec<Event>> {
    let rows: Vec<Row> = events::table
        .filter(events::workflow_id.eq(id_text(workflow_id.as_uuid())))
        .filter(events::id.gt(after))
        .order(events::id)
        .limit(i64::from(limit))
        .select((
            events::id,
            events::workflow_id,
            events::event_type,
            events::data,
            events::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(into_event)
        .collect::<anyhow::Result<_>>()?)
}

pub(crate) fn last_id(conn: &mut SqliteConnection, workflow_id: WorkflowId) -> SqlResult<i64> {
    let last: Option<i64> = events::table
        .filter(events::workflow_id.eq(id_text(workflow_id.as_uuid())))
        .select(diesel::dsl::max(events::id))
        .first(conn)?;
    Ok(last.unwrap_or(0))
}
