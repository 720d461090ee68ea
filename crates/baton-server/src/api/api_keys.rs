//! `/api/api-keys`: a user's API keys. A key is shown once, when created; only its hash is kept.

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use baton_domain::{ApiKey, ApiKeyId, KeyName, NewApiKey};
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
use crate::config::AuthMode;
use crate::error::ApiError;
use crate::protection::ReplayBody;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// To tell keys apart, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// The key itself: only in the answer to its creation (not in a replay of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ApiKeyView {
    fn new(key: ApiKey, secret: Option<String>) -> Self {
        Self {
            id: *key.id.as_uuid(),
            owner_id: *key.owner_id.as_uuid(),
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
            key: secret,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyPage {
    pub data: Vec<ApiKeyView>,
    pub next_cursor: Option<String>,
}

/// Create an API key
///
/// Owned by the caller; the key itself is in this answer only.
#[utoipa::path(
    post, path = "/api/api-keys", tag = "auth", operation_id = "createApiKey",
    params(IdempotencyKey),
    request_body(content = CreateApiKey, examples(
        ("ci" = (summary = "A key for CI", value = json!(examples::create_api_key()))),
    )),
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = ApiKeyView),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, description = "Authentication is off (local mode): set `BATON_JWT_SECRET`; or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid name; or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let name = KeyName::new(&body.name)?;
    if state.auth.mode() == AuthMode::Local {
        return Err(ApiError::Conflict {
            message: "API keys need authentication: set BATON_JWT_SECRET".into(),
            details: None,
        });
    }
    let generated = baton_auth::generate_api_key();
    let key = state
        .users
        .create_api_key(NewApiKey {
            id: ApiKeyId::generate(),
            owner_id: caller.user,
            name,
            prefix: generated.prefix,
            hash: generated.hash,
        })
        .await?;
    // A replay under the same Idempotency-Key shows the key's details, never the key again.
    let without_secret = serde_json::to_vec(&ApiKeyView::new(key.clone(), None))
        .map_err(|err| ApiError::Internal(err.into()))?;
    let mut response = HttpResponse::Created().json(ApiKeyView::new(key, Some(generated.key)));
    response
        .extensions_mut()
        .insert(ReplayBody(Bytes::from(without_secret)));
    Ok(response)
}

/// List API keys
#[utoipa::path(
    get, path = "/api/api-keys", tag = "auth", operation_id = "listApiKeys",
    params(Paging),
    responses(
        (status = 200, description = "Active keys, newest first: the caller's own (all for admins)", body = ApiKeyPage),
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
        .users
        .list_api_keys(caller.scope, params.page(CursorKind::ApiKeys)?)
        .await?;
    Ok(HttpResponse::Ok().json(ApiKeyPage {
        data: page
            .items
            .into_iter()
            .map(|key| ApiKeyView::new(key, None))
            .collect(),
        next_cursor: page.next.map(|id| encode_cursor(CursorKind::ApiKeys, id)),
    }))
}

/// Revoke an API key
#[utoipa::path(
    delete, path = "/api/api-keys/{id}", tag = "auth", operation_id = "revokeApiKey",
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked: the key stops working at once, on every instance"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such active key (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .users
        .revoke_api_key(caller.scope, ApiKeyId::from_uuid(*id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
