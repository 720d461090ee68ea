//! ETags and conditional requests: `ETag: "<version>"`, `If-Match`, `If-None-Match`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use crate::error::{ApiError, VersionSource};

pub fn etag(version: i32) -> (header::HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    (header::ETAG, value)
}

fn parse_tag(tag: &str) -> Option<i32> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// The version `If-Match` requires: `None` when absent or `*`.
pub fn if_match(req: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    parse_tag(text).map(Some).ok_or_else(|| {
        ApiError::bad_request("If-Match must hold one ETag as returned by Baton, like \"3\"")
    })
}

/// Whether `If-None-Match` matches `version` (the client's copy is current: answer 304).
fn none_match(req: &HttpRequest, version: i32) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || parse_tag(tag) == Some(version))
}

/// A read answered conditionally: 304 with the `ETag` when `If-None-Match` holds `version`,
/// else 200 with the body and the `ETag`.
pub fn conditional<T: serde::Serialize>(
    req: &HttpRequest,
    version: i32,
    body: impl FnOnce() -> T,
) -> HttpResponse {
    if none_match(req, version) {
        HttpResponse::NotModified()
            .insert_header(etag(version))
            .finish()
    } else {
        HttpResponse::Ok().insert_header(etag(version)).json(body())
    }
}

/// The expected version of a change, from `If-Match` or the body's `version`, and which one
/// it came from (to answer 412 or 409). Both present and different → 409.
pub fn expected_version(
    req: &HttpRequest,
    body_version: Option<i32>,
) -> Result<(Option<i32>, VersionSource), ApiError> {
    match (if_match(req)?, body_version) {
        (Some(a), Some(b)) if a != b => Err(ApiError::Conflict {
            message: format!("If-Match asks for version {a} but the body says version {b}"),
            details: None,
        }),
        (Some(a), _) => Ok((Some(a), VersionSource::IfMatch)),
        (None, b) => Ok((b, VersionSource::Body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(parse_tag("\"3\""), Some(3));
        assert_eq!(parse_tag("W/\"12\""), Some(12));
        assert_eq!(parse_tag("3"), None);
        assert_eq!(parse_tag("\"x\""), None);
    }
}
