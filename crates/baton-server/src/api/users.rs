//! `/api/admin/users`: administrators create and list users.

use actix_web::{HttpResponse, web};
use baton_domain::{DomainError, Email, NewUser, Password, Role, User, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::ErrorBody;
use super::paging::{CursorKind, ListParams, encode_cursor};
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

#[utoipa::path(
    post, path = "/api/admin/users", tag = "admin",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 409, description = "The email is taken", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
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

#[utoipa::path(
    get, path = "/api/admin/users", tag = "admin",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "Users, newest first", body = UserPage),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
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
