//! `/api/workflows`: create, list, read, edit and delete workflows.

use actix_web::{HttpRequest, HttpResponse, web};
use baton_domain::ports::WorkflowFilter;
use baton_domain::{NewWorkflow, WorkflowId, WorkflowPatch, WorkflowStatus};
use uuid::Uuid;

use super::dto::{CreateWorkflow, ErrorBody, PatchWorkflow, TaskList, WorkflowPage, WorkflowView};
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::preconditions::{conditional, etag, expected_version, if_match};
use super::{AppState, Caller};
use crate::error::{ApiError, VersionSource};

#[utoipa::path(
    post, path = "/api/workflows", tag = "workflows",
    request_body = CreateWorkflow,
    responses(
        (status = 201, description = "Created; `Location` names it", body = WorkflowView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateWorkflow>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let start = body.start;
    let new = NewWorkflow::new(
        caller.user,
        body.name,
        body.input,
        body.tasks.into_iter().map(Into::into).collect(),
    )?;
    let workflow = state.workflows.create(new, start).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/workflows/{}", workflow.id)))
        .insert_header(etag(workflow.version))
        .json(WorkflowView::from(workflow)))
}

#[utoipa::path(
    get, path = "/api/workflows", tag = "workflows",
    params(
        ("status" = Option<String>, Query, description = "pending, running, completed, failed or cancelled"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "Newest first, each with its tasks", body = WorkflowPage),
        (status = 400, description = "Bad status, limit or cursor", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let page = params.page(CursorKind::Workflows)?;
    let filter = WorkflowFilter {
        status: params.status::<WorkflowStatus>()?,
    };
    let page = state.workflows.list(caller.scope, filter, page).await?;
    Ok(HttpResponse::Ok().json(WorkflowPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|id| encode_cursor(CursorKind::Workflows, id)),
    }))
}

#[utoipa::path(
    get, path = "/api/workflows/{id}", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The workflow with its tasks; `ETag` holds its version", body = WorkflowView),
        (status = 304, description = "`If-None-Match` holds the current version"),
        (status = 404, description = "No such workflow", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let workflow = state
        .workflows
        .get(caller.scope, WorkflowId::from_uuid(*id))
        .await?;
    Ok(conditional(&req, workflow.version, || {
        WorkflowView::from(workflow)
    }))
}

#[utoipa::path(
    patch, path = "/api/workflows/{id}", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id")),
    request_body = PatchWorkflow,
    responses(
        (status = 200, description = "Changed", body = WorkflowView),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "Not pending, or `version` out of date", body = ErrorBody),
        (status = 412, description = "`If-Match` out of date", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    )
)]
pub async fn patch(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<PatchWorkflow>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (expected, source) = expected_version(&req, body.version)?;
    let patch = WorkflowPatch::new(body.name, body.input)?;
    let workflow = state
        .workflows
        .patch(caller.scope, WorkflowId::from_uuid(*id), patch, expected)
        .await
        .map_err(|e| ApiError::from_store(e, source))?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(workflow.version))
        .json(WorkflowView::from(workflow)))
}

#[utoipa::path(
    delete, path = "/api/workflows/{id}", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 204, description = "Deleted with its tasks"),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "Running", body = ErrorBody),
        (status = 412, description = "`If-Match` out of date", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req)?;
    state
        .workflows
        .delete(caller.scope, WorkflowId::from_uuid(*id), expected)
        .await
        .map_err(|e| ApiError::from_store(e, VersionSource::IfMatch))?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get, path = "/api/workflows/{id}/tasks", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Its tasks by position", body = TaskList),
        (status = 404, description = "No such workflow", body = ErrorBody),
    )
)]
pub async fn tasks(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let workflow = state
        .workflows
        .get(caller.scope, WorkflowId::from_uuid(*id))
        .await?;
    Ok(HttpResponse::Ok().json(TaskList {
        data: workflow.tasks.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(
    post, path = "/api/workflows/{id}/start", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 202, description = "Started: its first task is queued", body = WorkflowView),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "Not pending (already started), or no tasks", body = ErrorBody),
    )
)]
pub async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, caller, *id, Action::Start).await
}

#[utoipa::path(
    post, path = "/api/workflows/{id}/cancel", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 202, description = "Cancelled; a running task's late result is discarded", body = WorkflowView),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody),
    )
)]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, caller, *id, Action::Cancel).await
}

#[utoipa::path(
    post, path = "/api/workflows/{id}/retry", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 202, description = "Resumed from its failed task; completed tasks are not run again", body = WorkflowView),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "Not failed", body = ErrorBody),
    )
)]
pub async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, caller, *id, Action::Retry).await
}

enum Action {
    Start,
    Cancel,
    Retry,
}

/// Runs an action and answers 202 with the workflow as it is now.
async fn act(
    state: &AppState,
    caller: Caller,
    id: Uuid,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    let id = WorkflowId::from_uuid(id);
    let workflow = match action {
        Action::Start => state.workflows.start(caller.scope, id).await?,
        Action::Cancel => state.workflows.cancel(caller.scope, id).await?,
        Action::Retry => state.workflows.retry(caller.scope, id).await?,
    };
    Ok(accepted(workflow))
}

fn accepted(workflow: baton_domain::Workflow) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/workflows/{}", workflow.id)))
        .insert_header(etag(workflow.version))
        .json(WorkflowView::from(workflow))
}
