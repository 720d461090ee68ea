//! `/api/workflows`: create, list, read, edit and delete workflows.

use actix_web::{HttpRequest, HttpResponse, web};
use baton_domain::ports::WorkflowFilter;
use baton_domain::{WorkflowId, WorkflowPatch, WorkflowStatus};
use uuid::Uuid;

use super::concurrency::{WorkflowStatusName, checked};
use super::dto::{
    BudgetSpec, CreateWorkflow, ErrorBody, PatchWorkflow, TaskList, WorkflowPage, WorkflowView,
};
use super::examples;
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::params::{IdempotencyKey, IfMatch, IfNoneMatch, Paging};
use super::preconditions::{conditional, etag, expected_version, if_match};
use super::responses::{
    PayloadTooLarge, RateLimited, Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{AppState, Caller};
use crate::error::{ApiError, VersionSource};

/// Create a workflow
///
/// With its tasks, in order; `"start": true` also starts it (its first task is queued in the
/// same transaction).
#[utoipa::path(
    post, path = "/api/workflows", tag = "workflows", operation_id = "createWorkflow",
    params(IdempotencyKey),
    request_body(content = CreateWorkflow, examples(
        ("pipeline" = (summary = "Reshape with jq, store the result, start at once", value = json!(examples::create_workflow()))),
        ("draft" = (summary = "A pending workflow to add tasks to", value = json!(examples::create_draft_workflow()))),
    )),
    responses(
        (status = 201, description = "Created", body = WorkflowView, headers(
            ("Location" = String, description = "`/api/workflows/{id}`"),
            ("ETag" = String, description = "Its version, for `If-Match`"),
        )),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, description = "A request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields (`details.fields` names each), or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateWorkflow>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let start = body.start;
    let new = body.into_new(caller.user)?;
    let workflow = state.workflows.create(new, start).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/workflows/{}", workflow.id)))
        .insert_header(etag(workflow.version))
        .json(WorkflowView::from(workflow)))
}

/// List workflows
///
/// Newest first, each with its tasks; a member sees their own, an administrator all.
#[utoipa::path(
    get, path = "/api/workflows", tag = "workflows", operation_id = "listWorkflows",
    params(
        ("status" = Option<WorkflowStatusName>, Query, description = "Only workflows in this status: pending, queued (started, waiting for a slot of its concurrency key), running, paused (an `llm` call did not fit its budget), completed, failed or cancelled"),
        ("name" = Option<String>, Query, max_length = 200, description = "Only workflows whose name contains this text, ignoring case (on SQLite, the case of ASCII letters only); empty: no filter"),
        Paging,
    ),
    responses(
        (status = 200, description = "A page of workflows", body = WorkflowPage),
        (status = 400, description = "Bad status, limit or cursor, or a name filter over 200 characters", body = ErrorBody),
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
    let page = params.page(CursorKind::Workflows)?;
    let filter = WorkflowFilter {
        status: params.status::<WorkflowStatus>()?,
        name: params.name()?,
    };
    let page = state.workflows.list(caller.scope, filter, page).await?;
    Ok(HttpResponse::Ok().json(WorkflowPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|id| encode_cursor(CursorKind::Workflows, id)),
    }))
}

/// Get a workflow
#[utoipa::path(
    get, path = "/api/workflows/{id}", tag = "workflows", operation_id = "getWorkflow",
    params(("id" = Uuid, Path, description = "Workflow id"), IfNoneMatch),
    responses(
        (status = 200, description = "The workflow with its tasks", body = WorkflowView, headers(
            ("ETag" = String, description = "Its version, for `If-Match` and `If-None-Match`"),
        )),
        (status = 304, description = "`If-None-Match` holds the current version"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
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

/// Update a workflow
///
/// Renames it, changes its input or its concurrency key, while it is pending.
#[utoipa::path(
    patch, path = "/api/workflows/{id}", tag = "workflows", operation_id = "updateWorkflow",
    params(("id" = Uuid, Path, description = "Workflow id"), IfMatch),
    request_body(content = PatchWorkflow, examples(
        ("rename" = (summary = "A new name and input", value = json!(examples::patch_workflow()))),
    )),
    responses(
        (status = 200, description = "Changed", body = WorkflowView, headers(
            ("ETag" = String, description = "Its new version"),
        )),
        (status = 400, description = "Malformed JSON, an id that is not a UUID, or a malformed `If-Match`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 409, description = "Not pending, or the body's `version` is out of date (or differs from `If-Match`)", body = ErrorBody),
        (status = 412, description = "`If-Match` is out of date", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
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
    let concurrency = body.concurrency.map(checked).transpose()?;
    let budget = body
        .budget
        .map(|b| b.map(BudgetSpec::checked).transpose())
        .transpose()?;
    let patch = WorkflowPatch::new(body.name, body.input)?
        .with_concurrency(concurrency)
        .with_budget(budget);
    let workflow = state
        .workflows
        .patch(caller.scope, WorkflowId::from_uuid(*id), patch, expected)
        .await
        .map_err(|e| ApiError::from_store(e, source))?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(workflow.version))
        .json(WorkflowView::from(workflow)))
}

/// Delete a workflow
///
/// With its tasks, events and documents; not while it runs.
#[utoipa::path(
    delete, path = "/api/workflows/{id}", tag = "workflows", operation_id = "deleteWorkflow",
    params(("id" = Uuid, Path, description = "Workflow id"), IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An id that is not a UUID, or a malformed `If-Match`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 409, description = "It is running", body = ErrorBody),
        (status = 412, description = "`If-Match` is out of date", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
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

/// List a workflow's tasks
#[utoipa::path(
    get, path = "/api/workflows/{id}/tasks", tag = "workflows", operation_id = "listWorkflowTasks",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Its tasks by position", body = TaskList),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
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

/// Start a workflow
#[utoipa::path(
    post, path = "/api/workflows/{id}/start", tag = "workflows", operation_id = "startWorkflow",
    params(("id" = Uuid, Path, description = "Workflow id"), IdempotencyKey),
    responses(
        (status = 202, description = "Started: its first task is queued", body = WorkflowView, headers(
            ("Location" = String, description = "`/api/workflows/{id}`"),
            ("ETag" = String, description = "Its new version"),
        )),
        (status = 400, description = "An id that is not a UUID, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 409, description = "Not pending (already started), or no tasks; or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 422, description = "The `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, caller, *id, Action::Start).await
}

/// Cancel a workflow
#[utoipa::path(
    post, path = "/api/workflows/{id}/cancel", tag = "workflows", operation_id = "cancelWorkflow",
    params(("id" = Uuid, Path, description = "Workflow id"), IdempotencyKey),
    responses(
        (status = 202, description = "Cancelled; a running task's late result is discarded", body = WorkflowView, headers(
            ("Location" = String, description = "`/api/workflows/{id}`"),
            ("ETag" = String, description = "Its new version"),
        )),
        (status = 400, description = "An id that is not a UUID, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 409, description = "Already finished; or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 422, description = "The `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, caller, *id, Action::Cancel).await
}

/// Retry a failed workflow
#[utoipa::path(
    post, path = "/api/workflows/{id}/retry", tag = "workflows", operation_id = "retryWorkflow",
    params(("id" = Uuid, Path, description = "Workflow id"), IdempotencyKey),
    responses(
        (status = 202, description = "Resumed from its failed task; completed tasks are not run again", body = WorkflowView, headers(
            ("Location" = String, description = "`/api/workflows/{id}`"),
            ("ETag" = String, description = "Its new version"),
        )),
        (status = 400, description = "An id that is not a UUID, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 409, description = "Not failed; or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 422, description = "The `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, caller, *id, Action::Retry).await
}

/// Resume a paused workflow
///
/// Its `llm` tasks the budget stopped run again (raise the budget first, with `PATCH`: a call
/// that still does not fit pauses it again).
#[utoipa::path(
    post, path = "/api/workflows/{id}/resume", tag = "workflows", operation_id = "resumeWorkflow",
    params(("id" = Uuid, Path, description = "Workflow id"), IdempotencyKey),
    responses(
        (status = 202, description = "Resumed: the tasks its budget stopped are queued", body = WorkflowView, headers(
            ("Location" = String, description = "`/api/workflows/{id}`"),
            ("ETag" = String, description = "Its new version"),
        )),
        (status = 400, description = "An id that is not a UUID, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 409, description = "Not paused; or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 422, description = "The `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn resume(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    act(&state, caller, *id, Action::Resume).await
}

enum Action {
    Start,
    Cancel,
    Retry,
    Resume,
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
        Action::Resume => state.workflows.resume(caller.scope, id).await?,
    };
    Ok(accepted(workflow))
}

fn accepted(workflow: baton_domain::Workflow) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/workflows/{}", workflow.id)))
        .insert_header(etag(workflow.version))
        .json(WorkflowView::from(workflow))
}
