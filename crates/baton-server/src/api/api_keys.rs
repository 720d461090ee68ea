//! `/api/api-keys`: a user's API keys. A key is shown once, when created; only its hash is kept.

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use baton_domain::{ApiKey, ApiKeyId, KeyName, NewApiKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::ErrorBody;
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::{AppState, Caller};
use crate::config::AuthMode;
use crate::error::ApiError;
use crate::protection::ReplayBody;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// To tell keys apart, 1 to 100 characters.
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

#[utoipa::path(
    post, path = "/api/api-keys", tag = "auth",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = ApiKeyView),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 409, description = "Authentication is off (local mode)", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody),
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

#[utoipa::path(
    get, path = "/api/api-keys", tag = "auth",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "Active keys, newest first: the caller's own (all for admins)", body = ApiKeyPage),
        (status = 401, description = "No valid credentials", body = ErrorBody),
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

#[utoipa::path(
    delete, path = "/api/api-keys/{id}", tag = "auth",
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked: the key stops working at once"),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 404, description = "No such active key", body = ErrorBody),
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
