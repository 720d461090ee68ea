//! Error answers shared by many operations, as reusable responses of the OpenAPI document
//! (`#/components/responses/...`). Each has the one error format, [`ErrorBody`], as its body.
//! 500 can follow any request: [`ServerErrors`] adds it to every operation, once here.
#![expect(
    dead_code,
    reason = "they describe answers; nothing reads their bodies"
)]

use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::{Modify, ToResponse};

use super::dto::ErrorBody;

/// No valid credentials (authentication is on): none were sent, or the token has expired, is
/// forged, or the API key is unknown or revoked.
#[derive(ToResponse)]
#[response(headers(
    ("WWW-Authenticate" = String, description = "`Bearer realm=\"baton\"`, with `error=\"invalid_token\"` when a token was refused")
))]
pub struct Unauthorized(ErrorBody);

/// The caller is authenticated but not an administrator.
#[derive(ToResponse)]
pub struct Forbidden(ErrorBody);

/// The request body is larger than `BATON_MAX_BODY_BYTES` (1 MiB by default).
#[derive(ToResponse)]
pub struct PayloadTooLarge(ErrorBody);

/// The request body is not JSON: send `Content-Type: application/json`.
#[derive(ToResponse)]
pub struct UnsupportedMediaType(ErrorBody);

/// Too many requests from this caller (per user, or per address when anonymous).
#[derive(ToResponse)]
#[response(headers(
    ("Retry-After" = u64, description = "Seconds to wait before the next request"),
    ("RateLimit-Limit" = u32, description = "Requests allowed per minute"),
    ("RateLimit-Remaining" = u32, description = "Requests left now: 0"),
    ("RateLimit-Reset" = u64, description = "Seconds until the whole quota is back"),
))]
pub struct RateLimited(ErrorBody);

/// The database is unavailable, or credentials cannot be checked right now; try again shortly.
#[derive(ToResponse)]
pub struct Unavailable(ErrorBody);

/// An unexpected failure; the body is opaque, the cause is logged with the request's
/// `X-Request-Id`.
#[derive(ToResponse)]
pub struct InternalError(ErrorBody);

/// Adds `500` ([`InternalError`]) to every operation.
pub struct ServerErrors;

impl Modify for ServerErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        let name = <InternalError as ToResponse>::response().0;
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("500".to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            }
        }
    }
}
