//! The documents `store` tasks wrote: read only (written by `steps.rs`).

use baton_domain::ports::{DocumentFilter, Page, PageRequest, Scope, StoreError};
use baton_domain::{Document, TaskId, UserId, WorkflowId};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use uuid::Uuid;

use crate::error::SqlResult;
use crate::models::{id_text, json, uuid};
use crate::schema::documents;
use crate::time::parse;

type Row = (String, String, String, String, String, String, String);

fn into_document(row: Row) -> anyhow::Result<Document> {
    let (id, owner_id, collection, workflow_id, task_id, data, created_at) = row;
    Ok(Document {
        id: uuid(&id)?,
        owner_id: UserId::from_uuid(uuid(&owner_id)?),
        collection,
        workflow_id: WorkflowId::from_uuid(uuid(&workflow_id)?),
        task_id: TaskId::from_uuid(uuid(&task_id)?),
        data: json(&data)?,
        created_at: parse(&created_at)?,
    })
}

fn scoped(scope: Scope) -> documents::BoxedQuery<'static, Sqlite> {
    let query = documents::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(documents::owner_id.eq(id_text(owner.as_uuid()))),
        None => query,
    }
}

pub(crate) fn list(
    conn: &mut SqliteConnection,
    scope: Scope,
    filter: DocumentFilter,
    page: PageRequest,
) -> SqlResult<Page<Document>> {
    let limit = page.limit.get() as usize;
    let mut query = scoped(scope);
    if let Some(collection) = filter.collection {
        query = query.filter(documents::collection.eq(collection));
    }
    if let Some(workflow) = filter.workflow_id {
        query = query.filter(documents::workflow_id.eq(id_text(workflow.as_uuid())));
    }
    if let Some(after) = page.after {
        query = query.filter(documents::id.lt(id_text(&after)));
    }
    let mut rows: Vec<Row> = query
        .order(documents::id.desc())
        .limit(limit as i64 + 1)
        .select(documents::all_columns)
        .load(conn)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let items = rows
        .into_iter()
        .map(into_document)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let next = if more {
        items.last().map(|d| d.id)
    } else {
        None
    };
    Ok(Page { items, next })
}

pub(crate) fn get(conn: &mut SqliteConnection, scope: Scope, id: Uuid) -> SqlResult<Document> {
    let row: Row = scoped(scope)
        .filter(documents::id.eq(id_text(&id)))
        .select(documents::all_columns)
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("document"))?;
    Ok(into_document(row)?)
}
