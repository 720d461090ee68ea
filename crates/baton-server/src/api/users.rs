//! `/api/admin/users`: administrators create and list users.

use actix_web::{HttpResponse, web};
use baton_domain::{DomainError, Email, NewUser, Password, Role, User, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::ErrorBody;
use super::examples;
use super::paging::{CursorKind, ListParams, encode_cursor};
use super::params::{IdempotencyKey, Paging};
use super::responses::{
    Forbidden, PayloadTooLarge, RateLimited, Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::{AdminCaller, AppState};
use crate::error::ApiError;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    /// 8 to 1,024 characters.
    pub password: String,
    /// `member` (the default) or `admin`.
    pub role: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    /// `admin` or `member`.
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: *user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            role: user.role.as_str().to_owned(),
            created_at: user.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub data: Vec<UserView>,
    pub next_cursor: Option<String>,
}

/// Create a user
#[utoipa::path(
    post, path = "/api/admin/users", tag = "admin", operation_id = "createUser",
    params(IdempotencyKey),
    request_body(content = CreateUser, examples(
        ("member" = (summary = "A member, who sees only their own workflows", value = json!(examples::create_user()))),
    )),
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "The email is taken; or a request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields; or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let CreateUser {
        email,
        password,
        role,
    } = body.into_inner();
    let mut errors = Vec::new();
    let email = Email::new(&email).map_err(|e| errors.push(e)).ok();
    let password = Password::new(password).map_err(|e| errors.push(e)).ok();
    let role = match role.as_deref() {
        None => Some(Role::Member),
        Some(raw) => raw.parse::<Role>().map_err(|e| errors.push(e)).ok(),
    };
    let (Some(email), Some(password), Some(role)) = (email, password, role) else {
        return Err(DomainError::Invalid(
            errors
                .into_iter()
                .flat_map(|e| match e {
                    DomainError::Invalid(fields) => fields,
                    other => vec![baton_domain::FieldError::new("", other.to_string())],
                })
                .collect(),
        )
        .into());
    };
    let password_hash = state
        .auth
        .hash_password(password.expose().to_owned())
        .await?;
    let user = state
        .users
        .create_user(NewUser {
            id: UserId::generate(),
            email,
            role,
            password_hash,
        })
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// List users
#[utoipa::path(
    get, path = "/api/admin/users", tag = "admin", operation_id = "listUsers",
    params(Paging),
    responses(
        (status = 200, description = "Users, newest first", body = UserPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .users
        .list_users(params.page(CursorKind::Users)?)
        .await?;
    Ok(HttpResponse::Ok().json(UserPage {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|id| encode_cursor(CursorKind::Users, id)),
    }))
}
