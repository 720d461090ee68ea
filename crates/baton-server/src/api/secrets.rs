//! `/api/secrets`: a user's secrets. A value goes in and is never given back: answers show a
//! secret's name and dates only. Templates read one as `{{ secrets.NAME }}`.

use actix_web::{HttpResponse, web};
use baton_domain::SecretInfo;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSecret {
    /// A letter or `_`, then letters, digits and `_`; at most 64 characters. Unique per user.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z_][A-Za-z0-9_]*$")]
    pub name: String,
    /// The value, 4 characters to 16 KiB. Never shown again.
    #[schema(min_length = 4, max_length = 16384)]
    pub value: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// The new value, 4 characters to 16 KiB. Never shown again.
    #[schema(min_length = 4, max_length = 16384)]
    pub value: String,
}

/// A secret as shown: never its value.
#[derive(Serialize, ToSchema)]
pub struct SecretView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When its value was last set.
    pub updated_at: DateTime<Utc>,
}

impl From<SecretInfo> for SecretView {
    fn from(secret: SecretInfo) -> Self {
        Self {
            id: secret.id,
            name: secret.name,
            created_at: secret.created_at,
            updated_at: secret.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SecretPage {
    pub data: Vec<SecretView>,
    pub next_cursor: Option<String>,
}

fn location(secret: &SecretView) -> (&'static str, String) {
    ("Location", format!("/api/secrets/{}", secret.name))
}

/// Create a secret
///
/// Owned by the caller (every user has their own, administrators included); its value is
/// sealed before it is stored and never shown again.
#[utoipa::path(
    post, path = "/api/secrets", tag = "secrets", operation_id = "createSecret",
    params(IdempotencyKey),
    request_body(content = CreateSecret, examples(
        ("api key" = (summary = "A third party's API key", value = json!(examples::create_secret()))),
    )),
    responses(
        (status = 201, description = "Created", body = SecretView, headers(
            ("Location" = String, description = "`/api/secrets/{name}`"),
        )),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, description = "A secret of this name exists (replace it with PUT); secrets are off (no `BATON_SECRETS_KEY`); or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid name or value; or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateSecret>,
) -> Result<HttpResponse, ApiError> {
    let CreateSecret { name, value } = body.into_inner();
    let secret = SecretView::from(state.secrets.create(caller.user, &name, value).await?);
    Ok(HttpResponse::Created()
        .insert_header(location(&secret))
        .json(secret))
}

/// List secrets
#[utoipa::path(
    get, path = "/api/secrets", tag = "secrets", operation_id = "listSecrets",
    params(Paging),
    responses(
        (status = 200, description = "The caller's secrets, newest first: names and dates only", body = SecretPage),
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
    let page = state
        .secrets
        .list(caller.user, params.page(CursorKind::Secrets)?)
        .await?;
    Ok(HttpResponse::Ok().json(SecretPage {
        data: page.items.into_iter().map(SecretView::from).collect(),
        next_cursor: page.next.map(|id| encode_cursor(CursorKind::Secrets, id)),
    }))
}

/// Get a secret's details
#[utoipa::path(
    get, path = "/api/secrets/{name}", tag = "secrets", operation_id = "getSecret",
    params(("name" = String, Path, description = "The secret's name")),
    responses(
        (status = 200, description = "Its name and dates (never its value)", body = SecretView),
        (status = 401, response = Unauthorized),
        (status = 404, description = "The caller has no secret of this name", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let secret = state.secrets.get(caller.user, &name).await?;
    Ok(HttpResponse::Ok().json(SecretView::from(secret)))
}

/// Set a secret's value
///
/// Replaces the value (workflows that name the secret read the new one from their next task
/// on), or creates the secret when the caller has none of this name.
#[utoipa::path(
    put, path = "/api/secrets/{name}", tag = "secrets", operation_id = "putSecret",
    params(("name" = String, Path, description = "The secret's name")),
    request_body(content = PutSecret, examples(
        ("rotate" = (summary = "A new value", value = json!(examples::put_secret()))),
    )),
    responses(
        (status = 200, description = "Replaced", body = SecretView),
        (status = 201, description = "Created", body = SecretView, headers(
            ("Location" = String, description = "`/api/secrets/{name}`"),
        )),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, description = "Secrets are off (no `BATON_SECRETS_KEY`)", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid name or value", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<PutSecret>,
) -> Result<HttpResponse, ApiError> {
    let value = body.into_inner().value;
    let (secret, created) = state.secrets.put(caller.user, &name, value).await?;
    let secret = SecretView::from(secret);
    Ok(if created {
        HttpResponse::Created()
            .insert_header(location(&secret))
            .json(secret)
    } else {
        HttpResponse::Ok().json(secret)
    })
}

/// Delete a secret
///
/// Tasks that name it fail from then on, saying which secret is missing.
#[utoipa::path(
    delete, path = "/api/secrets/{name}", tag = "secrets", operation_id = "deleteSecret",
    params(("name" = String, Path, description = "The secret's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 404, description = "The caller has no secret of this name", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.secrets.delete(caller.user, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
