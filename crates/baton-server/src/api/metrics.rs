//! `GET /metrics`: this instance's Prometheus metrics (see [`crate::metrics`]).

use actix_web::{HttpResponse, web};

use super::responses::{Forbidden, RateLimited, Unauthorized, Unavailable};
use super::{AdminCaller, AppState};
use crate::error::ApiError;

/// What `GET /metrics` answers in.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Prometheus metrics
///
/// Every series of this instance, in the OpenMetrics text format; administrators only (they
/// describe every tenant's work).
#[utoipa::path(
    get, path = "/metrics", tag = "health", operation_id = "scrapeMetrics",
    responses(
        (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn scrape(
    state: web::Data<AppState>,
    _admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    let text = state
        .metrics
        .render(state.queue.as_ref())
        .await
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("cannot render the metrics: {err}")))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}
