//! `/api/schedules`: runs of a definition on a cron, in a time zone. Owned like workflows.

use actix_web::{HttpResponse, web};
use baton_domain::{Schedule, ScheduleDraft};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::ErrorBody;
use super::examples;
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::params::{IdempotencyKey, Paging};
use super::responses::{
    PayloadTooLarge, RateLimited, Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{AppState, Caller};
use crate::error::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    /// The name of one of the caller's definitions.
    #[schema(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9_.-]+$")]
    pub definition: String,
    /// Each run's input (merged over the definition's defaults, checked against its schema).
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// Five fields (minute hour day-of-month month day-of-week), or six with seconds first:
    /// `"* * * * * *"` fires every second.
    #[schema(min_length = 1, max_length = 200, example = "0 9 * * MON-FRI")]
    pub cron: String,
    /// An IANA time zone the cron is read in (default `UTC`).
    #[schema(example = "Europe/Paris")]
    pub timezone: Option<String>,
    /// Ticks missed by more than 30 s: `skip` (default) drops them, `run_once` runs the latest.
    #[schema(example = "skip")]
    pub misfire: Option<String>,
    /// Pins a version of the definition (default: the latest at each fire).
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

/// A schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub definition: String,
    /// The pinned version; null: the latest at each fire.
    pub version: Option<i32>,
    #[schema(value_type = Object)]
    pub input: Value,
    pub cron: String,
    pub timezone: String,
    /// `skip` or `run_once`.
    pub misfire: String,
    pub paused: bool,
    /// When it is next due (null when paused ticks wait for a resume, or none is left).
    pub next_fire_at: Option<DateTime<Utc>>,
    /// The next 5 ticks (RFC 3339, UTC), computed in its time zone; paused: from a resume now.
    pub next_fire_times: Vec<DateTime<Utc>>,
    pub last_fired_at: Option<DateTime<Utc>>,
    /// Why Baton paused it (its definition was deleted, or no longer makes a valid workflow).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ScheduleView {
    fn new(schedule: Schedule, now: DateTime<Utc>) -> Self {
        Self {
            next_fire_times: schedule.next_fire_times(now),
            id: schedule.id,
            owner_id: schedule.owner_id.into(),
            definition: schedule.definition,
            version: schedule.version,
            input: schedule.input,
            cron: schedule.cron,
            timezone: schedule.timezone,
            misfire: schedule.misfire.as_str().to_owned(),
            paused: schedule.paused,
            next_fire_at: (!schedule.paused)
                .then_some(schedule.next_fire_at)
                .flatten(),
            last_fired_at: schedule.last_fired_at,
            last_error: schedule.last_error,
            created_at: schedule.created_at,
            updated_at: schedule.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulePage {
    pub data: Vec<ScheduleView>,
    pub next_cursor: Option<String>,
}

fn view(state: &AppState, schedule: Schedule) -> ScheduleView {
    ScheduleView::new(schedule, state.schedules.now())
}

/// Create a schedule
///
/// Runs the caller's definition at every tick of the cron, owned by the caller; the first
/// tick is the first after now.
#[utoipa::path(
    post, path = "/api/schedules", tag = "schedules", operation_id = "createSchedule",
    params(IdempotencyKey),
    request_body(content = CreateSchedule, examples(
        ("weekdays" = (summary = "Weekdays at 09:00 in Paris", value = json!(examples::create_schedule()))),
    )),
    responses(
        (status = 201, description = "Created", body = ScheduleView, headers(
            ("Location" = String, description = "`/api/schedules/{id}`"),
        )),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, description = "A request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields: `cron` (does not parse), `timezone` (not an IANA zone), `definition` (the caller has none of this name or version), `misfire`, `input` (breaks the definition's input schema); or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateSchedule>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let draft = ScheduleDraft {
        definition: b.definition,
        input: b.input,
        cron: b.cron,
        timezone: b.timezone,
        misfire: b.misfire,
        version: b.version,
    };
    let schedule = view(&state, state.schedules.create(caller.user, draft).await?);
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/schedules/{}", schedule.id)))
        .json(schedule))
}

/// List schedules
///
/// Newest first; a member sees their own, an administrator all.
#[utoipa::path(
    get, path = "/api/schedules", tag = "schedules", operation_id = "listSchedules",
    params(Paging),
    responses(
        (status = 200, description = "A page of schedules", body = SchedulePage),
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
    let page = params.page(CursorKind::Schedules)?;
    let page = state.schedules.list(caller.scope, page).await?;
    let now = state.schedules.now();
    Ok(HttpResponse::Ok().json(SchedulePage {
        data: page
            .items
            .into_iter()
            .map(|s| ScheduleView::new(s, now))
            .collect(),
        next_cursor: page.next.map(|id| encode_cursor(CursorKind::Schedules, id)),
    }))
}

/// Get a schedule
#[utoipa::path(
    get, path = "/api/schedules/{id}", tag = "schedules", operation_id = "getSchedule",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "The schedule with its next fire times", body = ScheduleView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such schedule (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let schedule = state.schedules.get(caller.scope, *id).await?;
    Ok(HttpResponse::Ok().json(view(&state, schedule)))
}

/// Delete a schedule
///
/// Runs it started are kept.
#[utoipa::path(
    delete, path = "/api/schedules/{id}", tag = "schedules", operation_id = "deleteSchedule",
    params(("id" = Uuid, Path, description = "Schedule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such schedule (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.schedules.delete(caller.scope, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Pause a schedule
///
/// No tick fires until it is resumed; pausing a paused schedule changes nothing.
#[utoipa::path(
    post, path = "/api/schedules/{id}/pause", tag = "schedules", operation_id = "pauseSchedule",
    params(("id" = Uuid, Path, description = "Schedule id"), IdempotencyKey),
    responses(
        (status = 200, description = "Paused", body = ScheduleView),
        (status = 400, description = "An id that is not a UUID, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such schedule (or not yours)", body = ErrorBody),
        (status = 409, description = "A request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 422, description = "The `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn pause(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let schedule = state.schedules.pause(caller.scope, *id).await?;
    Ok(HttpResponse::Ok().json(view(&state, schedule)))
}

/// Resume a schedule
///
/// From the first tick after now: ticks that passed while it was paused are not caught up.
/// Resuming a running schedule changes nothing.
#[utoipa::path(
    post, path = "/api/schedules/{id}/resume", tag = "schedules", operation_id = "resumeSchedule",
    params(("id" = Uuid, Path, description = "Schedule id"), IdempotencyKey),
    responses(
        (status = 200, description = "Resumed", body = ScheduleView),
        (status = 400, description = "An id that is not a UUID, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such schedule (or not yours)", body = ErrorBody),
        (status = 409, description = "A request with this `Idempotency-Key` is still in progress", body = ErrorBody),
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
    let schedule = state.schedules.resume(caller.scope, *id).await?;
    Ok(HttpResponse::Ok().json(view(&state, schedule)))
}
