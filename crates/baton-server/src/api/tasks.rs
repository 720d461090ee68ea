//! `/api/tasks`: read tasks, and edit those of pending workflows.

use actix_web::{HttpRequest, HttpResponse, web};
use baton_domain::ports::TaskFilter;
use baton_domain::{NewTask, TaskDraft, TaskId, TaskPatch, TaskStatus, WorkflowId};
use uuid::Uuid;

use super::dto::{CreateTask, ErrorBody, PatchTask, PutTask, TaskPage, TaskView};
use super::examples;
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::params::{IdempotencyKey, IfMatch, IfNoneMatch, Paging};
use super::preconditions::{conditional, etag, expected_version, if_match};
use super::responses::{
    PayloadTooLarge, RateLimited, Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{AppState, Caller};
use crate::error::{ApiError, VersionSource};

/// List tasks
///
/// Newest first, across workflows; a member sees their own, an administrator all.
#[utoipa::path(
    get, path = "/api/tasks", tag = "tasks", operation_id = "listTasks",
    params(
        ("workflow_id" = Option<Uuid>, Query, description = "Only this workflow's tasks"),
        ("status" = Option<String>, Query, description = "Only tasks in this status: pending, queued, running, completed, skipped, failed or cancelled"),
        Paging,
    ),
    responses(
        (status = 200, description = "A page of tasks", body = TaskPage),
        (status = 400, description = "Bad workflow_id, status, limit or cursor", body = ErrorBody),
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
    let page = params.page(CursorKind::Tasks)?;
    let workflow_id = params
        .workflow_id
        .as_deref()
        .map(|raw| {
            raw.parse::<Uuid>()
                .map(WorkflowId::from_uuid)
                .map_err(|_| ApiError::bad_request("workflow_id must be a UUID"))
        })
        .transpose()?;
    let filter = TaskFilter {
        workflow_id,
        status: params.status::<TaskStatus>()?,
    };
    let page = state
        .workflows
        .list_tasks(caller.scope, filter, page)
        .await?;
    Ok(HttpResponse::Ok().json(TaskPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|id| encode_cursor(CursorKind::Tasks, id)),
    }))
}

/// Get a task
#[utoipa::path(
    get, path = "/api/tasks/{id}", tag = "tasks", operation_id = "getTask",
    params(("id" = Uuid, Path, description = "Task id"), IfNoneMatch),
    responses(
        (status = 200, description = "The task", body = TaskView, headers(
            ("ETag" = String, description = "Its version, for `If-Match` and `If-None-Match`"),
        )),
        (status = 304, description = "`If-None-Match` holds the current version"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such task (or not yours)", body = ErrorBody),
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
    let task = state
        .workflows
        .get_task(caller.scope, TaskId::from_uuid(*id))
        .await?;
    Ok(conditional(&req, task.version, || TaskView::from(task)))
}

/// Add a task
///
/// To a pending workflow, at `position` (later tasks move down) or at the end.
#[utoipa::path(
    post, path = "/api/tasks", tag = "tasks", operation_id = "createTask",
    params(IdempotencyKey),
    request_body(content = CreateTask, examples(
        ("transform" = (summary = "A jq step at the end of a pending workflow of yours", value = json!(examples::create_task()))),
    )),
    responses(
        (status = 201, description = "Added", body = TaskView, headers(
            ("Location" = String, description = "`/api/tasks/{id}`"),
            ("ETag" = String, description = "Its version, for `If-Match`"),
        )),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 409, description = "The workflow is not pending; or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields, key taken or position out of range; or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateTask>,
) -> Result<HttpResponse, ApiError> {
    let (workflow_id, position, draft) = body.into_inner().into_parts();
    let task = NewTask::new(draft)?;
    let task = state
        .workflows
        .add_task(
            caller.scope,
            WorkflowId::from_uuid(workflow_id),
            position,
            task,
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/tasks/{}", task.id)))
        .insert_header(etag(task.version))
        .json(TaskView::from(task)))
}

/// Replace a task
///
/// Its editable fields; omitted ones take their defaults. The workflow must be pending.
#[utoipa::path(
    put, path = "/api/tasks/{id}", tag = "tasks", operation_id = "replaceTask",
    params(("id" = Uuid, Path, description = "Task id"), IfMatch),
    request_body(content = PutTask, examples(
        ("replace" = (summary = "A jq step with its own retry policy and time limit", value = json!(examples::put_task()))),
    )),
    responses(
        (status = 200, description = "Replaced", body = TaskView, headers(
            ("ETag" = String, description = "Its new version"),
        )),
        (status = 400, description = "Malformed JSON, an id that is not a UUID, or a malformed `If-Match`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such task (or not yours)", body = ErrorBody),
        (status = 409, description = "The workflow is not pending, or the body's `version` is out of date (or differs from `If-Match`)", body = ErrorBody),
        (status = 412, description = "`If-Match` is out of date", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields, key taken or position out of range", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<PutTask>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (expected, source) = expected_version(&req, body.version)?;
    let draft = TaskDraft {
        key: body.key,
        title: body.title,
        task_type: body.task_type,
        input: body.input,
        retry: body.retry.map(Into::into),
        timeout_ms: body.timeout_ms,
        depends_on: body.depends_on,
        when: body.when,
        for_each: body.for_each,
        max_parallel: body.max_parallel,
    };
    let patch = TaskPatch::replace(draft, body.position);
    update(&state, caller, *id, patch, expected, source).await
}

/// Update a task
///
/// Some of its fields; `"key": null` removes the key. The workflow must be pending.
#[utoipa::path(
    patch, path = "/api/tasks/{id}", tag = "tasks", operation_id = "updateTask",
    params(("id" = Uuid, Path, description = "Task id"), IfMatch),
    request_body(content = PatchTask, examples(
        ("retitle" = (summary = "A new title", value = json!(examples::patch_task()))),
    )),
    responses(
        (status = 200, description = "Changed", body = TaskView, headers(
            ("ETag" = String, description = "Its new version"),
        )),
        (status = 400, description = "Malformed JSON, an id that is not a UUID, or a malformed `If-Match`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such task (or not yours)", body = ErrorBody),
        (status = 409, description = "The workflow is not pending, or the body's `version` is out of date (or differs from `If-Match`)", body = ErrorBody),
        (status = 412, description = "`If-Match` is out of date", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields, key taken or position out of range", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn patch(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<PatchTask>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (expected, source) = expected_version(&req, body.version)?;
    let patch = TaskPatch {
        key: body.key,
        title: body.title,
        task_type: body.task_type,
        input: body.input,
        retry: body.retry.map(Into::into),
        timeout_ms: body.timeout_ms,
        position: body.position,
        depends_on: body.depends_on,
        when: body.when,
        for_each: body.for_each,
        max_parallel: body.max_parallel,
    };
    update(&state, caller, *id, patch, expected, source).await
}

async fn update(
    state: &AppState,
    caller: Caller,
    id: Uuid,
    patch: TaskPatch,
    expected: Option<i32>,
    source: VersionSource,
) -> Result<HttpResponse, ApiError> {
    let task = state
        .workflows
        .update_task(caller.scope, TaskId::from_uuid(id), patch, expected)
        .await
        .map_err(|e| ApiError::from_store(e, source))?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(task.version))
        .json(TaskView::from(task)))
}

/// Delete a task
///
/// From a pending workflow; later tasks move up.
#[utoipa::path(
    delete, path = "/api/tasks/{id}", tag = "tasks", operation_id = "deleteTask",
    params(("id" = Uuid, Path, description = "Task id"), IfMatch),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "An id that is not a UUID, or a malformed `If-Match`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such task (or not yours)", body = ErrorBody),
        (status = 409, description = "The workflow is not pending", body = ErrorBody),
        (status = 412, description = "`If-Match` is out of date", body = ErrorBody),
        (status = 422, description = "Another task of the workflow refers to this one (`steps.<key>`)", body = ErrorBody),
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
        .delete_task(caller.scope, TaskId::from_uuid(*id), expected)
        .await
        .map_err(|e| ApiError::from_store(e, VersionSource::IfMatch))?;
    Ok(HttpResponse::NoContent().finish())
}
