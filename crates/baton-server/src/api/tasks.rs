//! `/api/tasks`: read tasks, and edit those of pending workflows.

use actix_web::{HttpRequest, HttpResponse, web};
use baton_domain::ports::TaskFilter;
use baton_domain::{NewTask, TaskDraft, TaskId, TaskPatch, TaskStatus, WorkflowId};
use uuid::Uuid;

use super::dto::{CreateTask, ErrorBody, PatchTask, PutTask, TaskPage, TaskView};
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::preconditions::{conditional, etag, expected_version, if_match};
use super::{AppState, Caller};
use crate::error::{ApiError, VersionSource};

#[utoipa::path(
    get, path = "/api/tasks", tag = "tasks",
    params(
        ("workflow_id" = Option<Uuid>, Query, description = "Only this workflow's tasks"),
        ("status" = Option<String>, Query, description = "pending, queued, running, completed, failed or cancelled"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "Newest first", body = TaskPage),
        (status = 400, description = "Bad filter, limit or cursor", body = ErrorBody),
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

#[utoipa::path(
    get, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task; `ETag` holds its version", body = TaskView),
        (status = 304, description = "`If-None-Match` holds the current version"),
        (status = 404, description = "No such task", body = ErrorBody),
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

#[utoipa::path(
    post, path = "/api/tasks", tag = "tasks",
    request_body = CreateTask,
    responses(
        (status = 201, description = "Added; `Location` names it", body = TaskView),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "The workflow is not pending", body = ErrorBody),
        (status = 422, description = "Invalid fields, key taken or position out of range", body = ErrorBody),
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

#[utoipa::path(
    put, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = PutTask,
    responses(
        (status = 200, description = "Replaced", body = TaskView),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The workflow is not pending, or `version` out of date", body = ErrorBody),
        (status = 412, description = "`If-Match` out of date", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
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
    };
    let patch = TaskPatch::replace(draft, body.position);
    update(&state, caller, *id, patch, expected, source).await
}

#[utoipa::path(
    patch, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = PatchTask,
    responses(
        (status = 200, description = "Changed", body = TaskView),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The workflow is not pending, or `version` out of date", body = ErrorBody),
        (status = 412, description = "`If-Match` out of date", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
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

#[utoipa::path(
    delete, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 204, description = "Removed; later tasks move up"),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The workflow is not pending", body = ErrorBody),
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
        .delete_task(caller.scope, TaskId::from_uuid(*id), expected)
        .await
        .map_err(|e| ApiError::from_store(e, VersionSource::IfMatch))?;
    Ok(HttpResponse::NoContent().finish())
}
