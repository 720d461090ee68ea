//! `/api/workflows/{id}/signals`: input from outside a run (an approval, a webhook) for its
//! `wait` tasks. A signal is kept until a wait for its name consumes it, once.

use actix_web::{HttpResponse, web};
use baton_domain::{ReceivedSignal, SignalName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::ErrorBody;
use super::params::IdempotencyKey;
use super::responses::{
    PayloadTooLarge, RateLimited, Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{AppState, Caller};
use crate::error::ApiError;

/// A signal as kept.
#[derive(Serialize, ToSchema)]
pub struct SignalView {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub name: String,
    /// The body it was sent with: the output of the wait that consumes it.
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// The `wait` task that consumed it; `null` while it is kept for one.
    pub consumed_by_task_id: Option<Uuid>,
    pub consumed_at: Option<DateTime<Utc>>,
}

impl From<ReceivedSignal> for SignalView {
    fn from(signal: ReceivedSignal) -> Self {
        Self {
            id: *signal.id.as_uuid(),
            workflow_id: *signal.workflow_id.as_uuid(),
            name: signal.name,
            payload: signal.payload,
            created_at: signal.created_at,
            consumed_by_task_id: signal.consumed_by.map(|id| *id.as_uuid()),
            consumed_at: signal.consumed_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SignalList {
    pub data: Vec<SignalView>,
}

/// Send a signal to a workflow
///
/// The JSON body becomes the output of the `wait` task for `name` that consumes it. A signal
/// sent before the run reaches its wait is kept and consumed then; each is consumed once, by
/// the first wait for its name to run. Send it with an `Idempotency-Key` so that a retried
/// send is harmless.
#[utoipa::path(
    post, path = "/api/workflows/{id}/signals/{name}", tag = "workflows", operation_id = "sendSignal",
    params(
        ("id" = Uuid, Path, description = "Workflow id"),
        ("name" = String, Path, description = "The signal's name: 1 to 100 of letters, digits, `_`, `-`, `.`, `:`"),
        IdempotencyKey,
    ),
    request_body(content = Value, description = "Any JSON value", examples(
        ("approval" = (summary = "A reviewer's answer", value = json!({"approved": true, "by": "ana"}))),
    )),
    responses(
        (status = 202, description = "Kept for the workflow's waits (waits parked for it wake now)", body = SignalView),
        (status = 400, description = "Malformed JSON, an id that is not a UUID, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 409, description = "The workflow is finished (completed, failed or cancelled): it takes no signals; or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "An invalid signal name; or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let name = SignalName::new(name)?;
    let signal = state
        .workflows
        .send_signal(caller.scope, id.into(), name, body.into_inner())
        .await?;
    Ok(HttpResponse::Accepted().json(SignalView::from(signal)))
}

/// List a workflow's signals
#[utoipa::path(
    get, path = "/api/workflows/{id}/signals", tag = "workflows", operation_id = "listSignals",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Its signals, oldest first (at most 1,000), consumed ones included", body = SignalList),
        (status = 400, description = "An id that is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let signals = state
        .workflows
        .list_signals(caller.scope, (*id).into())
        .await?;
    Ok(HttpResponse::Ok().json(SignalList {
        data: signals.into_iter().map(SignalView::from).collect(),
    }))
}
