//! Wraps every request: its id (`X-Request-Id`, echoed or generated), a tracing span carrying it,
//! one access log line, security headers, and a 500 in the error format should a handler panic.
//!
//! Security headers: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
//! `Referrer-Policy: no-referrer` everywhere; `Cache-Control: no-store` on every `/api` answer
//! (they are per caller and may carry secrets) except the public OpenAPI document.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_util::FutureExt;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn client_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let valid =
        !value.is_empty() && value.len() <= 200 && value.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| value.to_owned())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = client_request_id(&req).unwrap_or_else(|| Uuid::new_v4().to_string());
    let private = (req.path().starts_with("/api/") && req.path() != "/api/openapi.json")
        || req.path() == "/metrics";
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let outcome = AssertUnwindSafe(next.call(req).instrument(span.clone()))
        .catch_unwind()
        .await;
    let mut response = match outcome {
        Ok(Ok(response)) => response.map_into_boxed_body(),
        // Errors that escaped the router, and panics: actix renders them from the error alone
        // (the request is gone), so the error carries the headers itself.
        Ok(Err(err)) => {
            log_served(&span, err.as_response_error().status_code(), started);
            return Err(Tagged {
                inner: err,
                request_id: id,
                private,
            }
            .into());
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            span.in_scope(|| tracing::error!(panic = %message, "request failed: handler panicked"));
            log_served(&span, StatusCode::INTERNAL_SERVER_ERROR, started);
            return Err(Tagged {
                inner: ApiError::AlreadyLogged.into(),
                request_id: id,
                private,
            }
            .into());
        }
    };
    add_headers(response.headers_mut(), &id, private);
    log_served(&span, response.status(), started);
    Ok(response)
}

fn add_headers(headers: &mut HeaderMap, request_id: &str, private: bool) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if private && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// An error answered outside the normal response path, with the request's headers added.
#[derive(Debug)]
struct Tagged {
    inner: actix_web::Error,
    request_id: String,
    private: bool,
}

impl std::fmt::Display for Tagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl ResponseError for Tagged {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.inner.error_response();
        add_headers(response.headers_mut(), &self.request_id, self.private);
        response
    }
}

fn log_served(span: &tracing::Span, status: StatusCode, started: Instant) {
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1_000.0,
            "served"
        );
    });
}
