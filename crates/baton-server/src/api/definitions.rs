//! `/api/definitions`: named, versioned workflow definitions, and runs of them. Names are per
//! owner; an administrator may name another user's with `?owner_id=`.

use actix_web::{HttpRequest, HttpResponse, web};
use baton_domain::{Definition, DefinitionDraft};
use serde_json::Value;

use super::definition_dto::{
    CreateDefinition, DefaultsSpec, DefinitionPage, DefinitionView, OwnerQuery, PutDefinition,
    RunDefinition, VersionQuery,
};
use super::dto::{ErrorBody, TaskSpec, WorkflowView};
use super::examples;
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::params::{IdempotencyKey, IfMatch, IfNoneMatch, Paging};
use super::preconditions::{conditional, etag, if_match};
use super::responses::{
    PayloadTooLarge, RateLimited, Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{AppState, Caller};
use crate::error::ApiError;

fn draft(
    name: String,
    description: Option<String>,
    input_schema: Option<Value>,
    defaults: Option<DefaultsSpec>,
    tasks: Vec<TaskSpec>,
) -> DefinitionDraft {
    DefinitionDraft {
        name,
        description,
        input_schema,
        defaults: defaults.map(Into::into),
        tasks: tasks.into_iter().map(Into::into).collect(),
    }
}

fn saved(definition: Definition, created: bool) -> HttpResponse {
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(("Location", format!("/api/definitions/{}", definition.name)))
        .insert_header(etag(definition.version))
        .json(DefinitionView::from(definition))
}

/// Create a definition
///
/// Its version 1, owned by the caller. Its tasks, with the defaults applied, are checked as
/// creating a workflow of them would check them (templates included).
#[utoipa::path(
    post, path = "/api/definitions", tag = "definitions", operation_id = "createDefinition",
    params(IdempotencyKey),
    request_body(content = CreateDefinition, examples(
        ("report" = (summary = "A reshape with defaults and an input schema", value = json!(examples::create_definition()))),
    )),
    responses(
        (status = 201, description = "Created: version 1", body = DefinitionView, headers(
            ("Location" = String, description = "`/api/definitions/{name}`"),
            ("ETag" = String, description = "Its version"),
        )),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, description = "The caller has a definition of this name (save a new version with PUT); or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields (`details.fields` names each: `name`, `input_schema`, `defaults…`, `tasks[i]…`), or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateDefinition>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let draft = draft(b.name, b.description, b.input_schema, b.defaults, b.tasks);
    let definition = state.definitions.create(caller.user, draft).await?;
    Ok(saved(definition, true))
}

/// Save a new version of a definition
///
/// Version n + 1 of the name (version 1 when the name is new). Runs started on earlier
/// versions keep their tasks.
#[utoipa::path(
    put, path = "/api/definitions/{name}", tag = "definitions", operation_id = "putDefinition",
    params(("name" = String, Path, description = "The definition's name"), OwnerQuery, IfMatch),
    request_body(content = PutDefinition, examples(
        ("digest" = (summary = "Reshape, then store", value = json!(examples::put_definition()))),
    )),
    responses(
        (status = 200, description = "Saved as the next version", body = DefinitionView, headers(
            ("ETag" = String, description = "Its version"),
        )),
        (status = 201, description = "Created: version 1", body = DefinitionView, headers(
            ("Location" = String, description = "`/api/definitions/{name}`"),
            ("ETag" = String, description = "Its version"),
        )),
        (status = 400, description = "Malformed JSON, `If-Match` or `owner_id`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`owner_id` names another user (members)", body = ErrorBody),
        (status = 409, description = "Versions kept being saved concurrently", body = ErrorBody),
        (status = 412, description = "`If-Match` is not the latest version", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields, or a body `name` other than the path's", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    name: web::Path<String>,
    query: web::Query<OwnerQuery>,
    body: web::Json<PutDefinition>,
) -> Result<HttpResponse, ApiError> {
    let owner = query.owner(&caller)?;
    let expected = if_match(&req)?;
    let b = body.into_inner();
    if b.name.as_ref().is_some_and(|n| n != name.as_str()) {
        return Err(baton_domain::DomainError::invalid(
            "name",
            format!("must be the path's name, {name:?}, or left out"),
        )
        .into());
    }
    let draft = draft(
        name.into_inner(),
        b.description,
        b.input_schema,
        b.defaults,
        b.tasks,
    );
    let (definition, created) = state.definitions.put(owner, draft, expected).await?;
    Ok(saved(definition, created))
}

/// List definitions
///
/// The latest version of each, newest first; a member sees their own, an administrator all.
#[utoipa::path(
    get, path = "/api/definitions", tag = "definitions", operation_id = "listDefinitions",
    params(Paging),
    responses(
        (status = 200, description = "A page of definitions (each name's latest version)", body = DefinitionPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
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
    let page = params.page(CursorKind::Definitions)?;
    let page = state.definitions.list(caller.scope, page).await?;
    Ok(HttpResponse::Ok().json(DefinitionPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page
            .next
            .map(|id| encode_cursor(CursorKind::Definitions, id)),
    }))
}

/// Get a definition
///
/// Its latest version, or `?version=N`.
#[utoipa::path(
    get, path = "/api/definitions/{name}", tag = "definitions", operation_id = "getDefinition",
    params(("name" = String, Path, description = "The definition's name"), VersionQuery, OwnerQuery, IfNoneMatch),
    responses(
        (status = 200, description = "The version", body = DefinitionView, headers(
            ("ETag" = String, description = "Its version, for `If-Match` on PUT"),
        )),
        (status = 304, description = "`If-None-Match` holds this version"),
        (status = 400, description = "A bad `version` or `owner_id`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such definition or version (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    name: web::Path<String>,
    query: web::Query<OwnerQuery>,
    version: web::Query<VersionQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = query.owner(&caller)?;
    let definition = state
        .definitions
        .get(owner, &name, version.version()?)
        .await?;
    Ok(conditional(&req, definition.version, || {
        DefinitionView::from(definition)
    }))
}

/// List a definition's versions
#[utoipa::path(
    get, path = "/api/definitions/{name}/versions", tag = "definitions", operation_id = "listDefinitionVersions",
    params(("name" = String, Path, description = "The definition's name"), OwnerQuery, Paging),
    responses(
        (status = 200, description = "Its versions, newest first", body = DefinitionPage),
        (status = 400, description = "Bad limit, cursor or `owner_id`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such definition (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn versions(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
    query: web::Query<OwnerQuery>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let owner = query.owner(&caller)?;
    let page = params.page(CursorKind::DefinitionVersions)?;
    let page = state.definitions.versions(owner, &name, page).await?;
    Ok(HttpResponse::Ok().json(DefinitionPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page
            .next
            .map(|id| encode_cursor(CursorKind::DefinitionVersions, id)),
    }))
}

/// Delete a definition
///
/// Every version. Runs started from it are kept (they hold their tasks).
#[utoipa::path(
    delete, path = "/api/definitions/{name}", tag = "definitions", operation_id = "deleteDefinition",
    params(("name" = String, Path, description = "The definition's name"), OwnerQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A bad `owner_id`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such definition (or not yours)", body = ErrorBody),
        (status = 409, description = "A schedule runs it: delete the schedule first", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
    query: web::Query<OwnerQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = query.owner(&caller)?;
    state.definitions.delete(owner, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Run a definition
///
/// Creates a workflow of the version's tasks (copied: later versions do not change it) and
/// starts it at once, owned by the caller; its input is the run's over the defaults, checked
/// against the input schema.
#[utoipa::path(
    post, path = "/api/definitions/{name}/runs", tag = "definitions", operation_id = "runDefinition",
    params(("name" = String, Path, description = "The definition's name"), OwnerQuery, IdempotencyKey),
    request_body(content = RunDefinition, examples(
        ("run" = (summary = "The latest version with some input", value = json!(examples::run_definition()))),
    )),
    responses(
        (status = 201, description = "Created and started, as `POST /api/workflows` with `start` answers", body = WorkflowView, headers(
            ("Location" = String, description = "`/api/workflows/{id}`"),
            ("ETag" = String, description = "The workflow's version"),
        )),
        (status = 400, description = "Malformed JSON, `owner_id` or `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such definition or version (or not yours)", body = ErrorBody),
        (status = 409, description = "A request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The input breaks the input schema (`input`, each violation naming its JSON pointer), or the version no longer makes a valid workflow; or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn run(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
    query: web::Query<OwnerQuery>,
    body: web::Json<RunDefinition>,
) -> Result<HttpResponse, ApiError> {
    let owner = query.owner(&caller)?;
    let RunDefinition { input, version } = body.into_inner();
    if version.is_some_and(|v| v < 1) {
        return Err(baton_domain::DomainError::invalid("version", "must be 1 or more").into());
    }
    let workflow = state
        .definitions
        .run(owner, caller.user, &name, version, input)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/workflows/{}", workflow.id)))
        .insert_header(etag(workflow.version))
        .json(WorkflowView::from(workflow)))
}
