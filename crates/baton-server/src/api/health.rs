//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::error::ApiError;

/// What a probe answers.
// The handlers below write it with `json!`: it is here for the document.
#[derive(utoipa::ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Probe {
    /// `ok` (liveness) or `ready` (readiness).
    #[expect(dead_code, reason = "it describes the answer only")]
    pub status: String,
}

/// Liveness probe
///
/// Answers as long as the process serves; not rate-limited.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "checkLiveness", security(()),
    responses((status = 200, description = "The process is up", body = inline(Probe))))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness probe
///
/// Whether the database answers (within 2 s); not rate-limited.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "checkReadiness", security(()),
    responses(
        (status = 200, description = "The database answers", body = inline(Probe)),
        (status = 503, description = "The database does not answer", body = super::dto::ErrorBody),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "not ready: the database does not answer");
            Err(ApiError::Unavailable(
                "the database is not reachable".into(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(
            "the database did not answer within 2 s".into(),
        )),
    }
}
