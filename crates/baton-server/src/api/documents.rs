//! `/api/documents`: what `store` tasks wrote.

use actix_web::{HttpResponse, web};
use baton_domain::Document;
use baton_domain::ports::DocumentFilter;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::ErrorBody;
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::params::Paging;
use super::responses::{RateLimited, Unauthorized, Unavailable};
use super::{AppState, Caller};
use crate::error::ApiError;

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub collection: String,
    pub workflow_id: Uuid,
    pub task_id: Uuid,
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

impl From<Document> for DocumentView {
    fn from(d: Document) -> Self {
        Self {
            id: d.id,
            owner_id: d.owner_id.into(),
            collection: d.collection,
            workflow_id: d.workflow_id.into(),
            task_id: d.task_id.into(),
            data: d.data,
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub data: Vec<DocumentView>,
    pub next_cursor: Option<String>,
}

/// List documents
///
/// What `store` tasks wrote, newest first; a member sees their own, an administrator all.
#[utoipa::path(
    get, path = "/api/documents", tag = "documents", operation_id = "listDocuments",
    params(
        ("collection" = Option<String>, Query, description = "Only this collection"),
        ("workflow_id" = Option<Uuid>, Query, description = "Only what this workflow's store tasks wrote"),
        Paging,
    ),
    responses(
        (status = 200, description = "A page of documents", body = DocumentPage),
        (status = 400, description = "Bad limit or cursor, or a `workflow_id` that is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let page = params.page(CursorKind::Documents)?;
    let workflow_id = match params.workflow_id.as_deref().filter(|w| !w.is_empty()) {
        None => None,
        Some(id) => Some(
            Uuid::parse_str(id)
                .map(Into::into)
                .map_err(|_| ApiError::bad_request("workflow_id must be a UUID"))?,
        ),
    };
    let filter = DocumentFilter {
        collection: params.collection.clone().filter(|c| !c.is_empty()),
        workflow_id,
    };
    let page = state
        .documents
        .list_documents(caller.scope, filter, page)
        .await?;
    Ok(HttpResponse::Ok().json(DocumentPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|id| encode_cursor(CursorKind::Documents, id)),
    }))
}

/// Get a document
#[utoipa::path(
    get, path = "/api/documents/{id}", tag = "documents", operation_id = "getDocument",
    params(("id" = Uuid, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document", body = DocumentView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such document (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let document = state.documents.get_document(caller.scope, *id).await?;
    Ok(HttpResponse::Ok().json(DocumentView::from(document)))
}
