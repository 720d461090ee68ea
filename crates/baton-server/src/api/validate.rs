//! `POST /api/workflows/validate`: a workflow checked as `POST /api/workflows` checks it, and
//! nothing stored.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::dto::{CreateWorkflow, ErrorBody};
use super::examples;
use super::params::IdempotencyKey;
use super::responses::{
    PayloadTooLarge, RateLimited, Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{AppState, Caller};
use crate::error::ApiError;

/// The answer for a valid workflow (an invalid one answers 422).
#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    /// Always `true`: `POST /api/workflows` would create this workflow.
    pub valid: bool,
}

/// Validate a workflow without creating it
///
/// Checks the body of `POST /api/workflows` as creating it would — the fields, every template
/// and jq program, the steps each task refers to, a language model for `llm` tasks — and
/// stores nothing. `start` is accepted and ignored.
#[utoipa::path(
    post, path = "/api/workflows/validate", tag = "workflows", operation_id = "validateWorkflow",
    params(IdempotencyKey),
    request_body(content = CreateWorkflow, examples(
        ("pipeline" = (summary = "A workflow that would be created", value = json!(examples::create_workflow()))),
    )),
    responses(
        (status = 200, description = "Valid: `POST /api/workflows` would create it; nothing is stored", body = Validation),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, description = "A request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid: `details.fields` names each problem (`field`, `message`, and the `expression` it is in, when there is one), as creating it would answer; or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn validate(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateWorkflow>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = body.into_new(caller.user)?;
    state.workflows.validate(&new).await?;
    Ok(HttpResponse::Ok().json(Validation { valid: true }))
}
