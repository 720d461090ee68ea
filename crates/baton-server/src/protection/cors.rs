//! CORS from `BATON_CORS_ORIGINS` (actix-cors): nothing is allowed by default; listed origins get
//! answered preflights for the methods and headers the API uses, and may read the headers it
//! sets. Other origins get no CORS headers at all (the browser then blocks the response).

use actix_cors::Cors;
use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header;
use actix_web::middleware::Next;

use crate::error::ApiError;

/// Request headers a browser may send.
pub const ALLOWED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "last-event-id",
    "x-api-key",
    "x-request-id",
];

/// Response headers a browser script may read.
pub const EXPOSED_HEADERS: &[&str] = &[
    "etag",
    "location",
    "x-request-id",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "idempotent-replayed",
];

pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers(ALLOWED_HEADERS.iter().copied())
        .expose_headers(EXPOSED_HEADERS.iter().copied())
        .block_on_origin_mismatch(false)
        .max_age(3_600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Puts preflights refused by actix-cors (plain-text 400s) into the API's error format.
pub async fn preflight_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let response = next.call(req).await?;
    match response.response().error() {
        Some(err) if preflight && response.status().is_client_error() => {
            let message = format!("CORS preflight refused: {err}");
            let (req, _) = response.into_parts();
            let error = ApiError::bad_request(message);
            Ok(ServiceResponse::new(req, error.error_response()))
        }
        _ => Ok(response.map_into_boxed_body()),
    }
}
