//! The one error format of the HTTP API: `{"error": "...", "code": "MACHINE_CODE", "details": …}`.
//!
//! Rule: every failure a client can see goes through [`ApiError`], and domain or store errors are
//! mapped to HTTP here and nowhere else. 4xx bodies say what the client can fix; 5xx bodies are
//! opaque and their cause is logged once, inside the request's span (which carries its id).

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use baton_domain::DomainError;
use baton_domain::ports::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

/// Whether a precondition came from the `If-Match` header or from a `version` in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    IfMatch,
    Body,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is malformed (bad JSON syntax, query, path or header).
    #[error("{message}")]
    BadRequest {
        message: String,
        details: Option<Value>,
    },
    /// 422: well-formed but breaks the rules (missing or wrong fields).
    #[error("{message}")]
    Unprocessable {
        message: String,
        details: Option<Value>,
    },
    /// 401: no credentials, or credentials that do not check out.
    #[error("{message}")]
    Unauthorized {
        message: String,
        /// RFC 6750 `error` for `WWW-Authenticate` (`invalid_token` when a token was sent).
        bearer_error: Option<&'static str>,
    },
    /// 403: authenticated, but not allowed (a member on an admin route).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{method} is not allowed here; allowed: {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    #[error("{message}")]
    Conflict {
        message: String,
        details: Option<Value>,
    },
    #[error("{message}")]
    PreconditionFailed {
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: over the rate limit; `retry_after` in whole seconds.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// A 500 whose cause has been logged already.
    #[error("internal error")]
    AlreadyLogged,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            details: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
            bearer_error: None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } | Self::Unprocessable { .. } => "VALIDATION_ERROR",
            Self::Unauthorized { .. } => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::Conflict { .. } => "CONFLICT",
            Self::PreconditionFailed { .. } => "PRECONDITION_FAILED",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal(_) | Self::AlreadyLogged => "INTERNAL_ERROR",
        }
    }

    fn details(&self) -> Option<&Value> {
        match self {
            Self::BadRequest { details, .. }
            | Self::Unprocessable { details, .. }
            | Self::Conflict { details, .. }
            | Self::PreconditionFailed { details, .. } => details.as_ref(),
            _ => None,
        }
    }

    /// Maps a store error, `source` telling how a version mismatch was asked for.
    pub fn from_store(err: StoreError, source: VersionSource) -> Self {
        match err {
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::Conflict(message) => Self::Conflict {
                message,
                details: None,
            },
            // Use cases decide again on a stale read; one that reaches here lost every retry.
            err @ StoreError::Stale(_) => Self::Conflict {
                message: format!("{err}; try again"),
                details: None,
            },
            StoreError::VersionMismatch { expected, current } => {
                let details =
                    Some(json!({"expected_version": expected, "current_version": current}));
                match source {
                    VersionSource::IfMatch => Self::PreconditionFailed {
                        message: format!(
                            "If-Match expected version {expected}, but the current version is {current}"
                        ),
                        details,
                    },
                    VersionSource::Body => Self::Conflict {
                        message: format!(
                            "version {expected} is out of date; the current version is {current}"
                        ),
                        details,
                    },
                }
            }
            StoreError::Invalid(err) => err.into(),
            StoreError::Unavailable(cause) => {
                tracing::error!(error = ?cause, "the database is unavailable");
                Self::Unavailable("the database is unavailable; try again shortly".into())
            }
            StoreError::Unknown(cause) => Self::Internal(cause),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::from_store(err, VersionSource::IfMatch)
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid(errors) => Self::Unprocessable {
                message: err_message(&errors),
                details: Some(json!({ "fields": errors })),
            },
            DomainError::IllegalTransition { .. } | DomainError::Conflict(_) => Self::Conflict {
                message: err.to_string(),
                details: None,
            },
            DomainError::VersionMismatch { .. } => {
                Self::from_store(err.into(), VersionSource::IfMatch)
            }
        }
    }
}

fn err_message(errors: &[baton_domain::FieldError]) -> String {
    match errors {
        [one] if one.field.is_empty() => one.message.clone(),
        [one] => format!("{}: {}", one.field, one.message),
        many => format!(
            "{} fields are invalid: {}",
            many.len(),
            many.iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::AlreadyLogged => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(error = ?cause, "request failed");
        }
        let message = self.to_string();
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::MethodNotAllowed { allowed, .. } => {
                if let Ok(value) = HeaderValue::from_str(allowed) {
                    response.insert_header((header::ALLOW, value));
                }
            }
            Self::Unauthorized { bearer_error, .. } => {
                let challenge = match bearer_error {
                    Some(error) => format!("Bearer realm=\"baton\", error=\"{error}\""),
                    None => "Bearer realm=\"baton\"".to_owned(),
                };
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            Self::RateLimited { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            _ => {}
        }
        response.json(Body {
            error: &message,
            code: self.code(),
            details: self.details(),
        })
    }
}

/// Bad JSON bodies: syntax → 400, wrong shape → 422, too large → 413, not JSON → 415.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => {
            ApiError::PayloadTooLarge(format!("the request body is larger than {limit} bytes"))
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "the request body must be JSON (Content-Type: application/json)".into(),
        ),
        JsonPayloadError::Deserialize(inner) => match inner.classify() {
            serde_json::error::Category::Data => ApiError::Unprocessable {
                message: format!("invalid request body: {inner}"),
                details: None,
            },
            _ => ApiError::bad_request(format!("malformed JSON: {inner}")),
        },
        other => ApiError::bad_request(format!("unreadable request body: {other}")),
    };
    api.into()
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(format!("invalid query string: {err}")).into()
}

pub fn path_error(_err: PathError, req: &HttpRequest) -> actix_web::Error {
    let path = shortened(req.path(), SHOWN_PATH_CHARS);
    ApiError::bad_request(format!("{path} holds an invalid id: ids are UUIDs")).into()
}

/// The most characters of a request's path an error message repeats.
const SHOWN_PATH_CHARS: usize = 120;

/// `text` cut to `max` characters, with `…` when cut (a hostile path is not echoed whole).
fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
