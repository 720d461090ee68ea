//! Reading the events of workflows' runs (for the SSE stream).

use baton_domain::ports::StoreError;
use baton_domain::{Event, WorkflowId};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use crate::error::PgError;
use crate::schema::events;

type Row = (
    i64,
    uuid::Uuid,
    String,
    Value,
    chrono::DateTime<chrono::Utc>,
);

pub(crate) async fn after(
    conn: &mut AsyncPgConnection,
    workflow_id: WorkflowId,
    after: i64,
    limit: u32,
) -> Result<Vec<Event>, StoreError> {
    let rows: Vec<Row> = events::table
        .filter(events::workflow_id.eq(*workflow_id.as_uuid()))
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
        .load(conn)
        .await
        .map_err(PgError::from)?;
    Ok(rows
        .into_iter()
        .map(|(id, workflow_id, event_type, data, created_at)| Event {
            id,
            workflow_id: WorkflowId::from_uuid(workflow_id),
            event_type,
            data,
            created_at,
        })
        .collect())
}

pub(crate) async fn last_id(
    conn: &mut AsyncPgConnection,
    workflow_id: WorkflowId,
) -> Result<i64, StoreError> {
    let last: Option<i64> = events::table
        .filter(events::workflow_id.eq(*workflow_id.as_uuid()))
        .select(diesel::dsl::max(events::id))
        .first(conn)
        .await
        .map_err(PgError::from)?;
    Ok(last.unwrap_or(0))
}
