//! The documents `store` tasks wrote: read only.

use baton_domain::ports::{DocumentFilter, Page, PageRequest, Scope, StoreError};
use baton_domain::{Document, TaskId, UserId, WorkflowId};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::error::PgError;
use crate::schema::documents;

type Row = (
    Uuid,
    Uuid,
    String,
    Uuid,
    Uuid,
    Value,
    chrono::DateTime<chrono::Utc>,
);

fn into_document(row: Row) -> Document {
    let (id, owner_id, collection, workflow_id, task_id, data, created_at) = row;
    Document {
        id,
        owner_id: UserId::from_uuid(owner_id),
        collection,
        workflow_id: WorkflowId::from_uuid(workflow_id),
        task_id: TaskId::from_uuid(task_id),
        data,
        created_at,
    }
}

fn scoped(scope: Scope) -> documents::BoxedQuery<'static, diesel::pg::Pg> {
    let query = documents::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(documents::owner_id.eq(*owner.as_uuid())),
        None => query,
    }
}

pub(crate) async fn list(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    filter: DocumentFilter,
    page: PageRequest,
) -> Result<Page<Document>, StoreError> {
    let limit = page.limit.get() as usize;
    let mut query = scoped(scope);
    if let Some(collection) = filter.collection {
        query = query.filter(documents::collection.eq(collection));
    }
    if let Some(workflow) = filter.workflow_id {
        query = query.filter(documents::workflow_id.eq(*workflow.as_uuid()));
    }
    if let Some(after) = page.after {
        query = query.filter(documents::id.lt(after));
    }
    let mut rows: Vec<Row> = query
        .order(documents::id.desc())
        .limit(limit as i64 + 1)
        .select(documents::all_columns)
        .load(conn)
        .await
        .map_err(PgError::from)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(|r| r.0) } else { None };
    Ok(Page {
        items: rows.into_iter().map(into_document).collect(),
        next,
    })
}

pub(crate) async fn get(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: Uuid,
) -> Result<Document, StoreError> {
    let row: Row = scoped(scope)
        .filter(documents::id.eq(id))
        .select(documents::all_columns)
        .first(conn)
        .await
        .optional()
        .map_err(PgError::from)?
        .ok_or(StoreError::NotFound("document"))?;
    Ok(into_document(row))
}
