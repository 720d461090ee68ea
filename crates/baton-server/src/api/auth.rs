//! `POST /api/auth/login`: an email and a password for an access token.

use actix_web::{HttpResponse, web};
use baton_domain::{Email, Principal};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::dto::ErrorBody;
use super::examples;
use super::responses::{PayloadTooLarge, RateLimited, Unavailable, UnsupportedMediaType};
use crate::error::ApiError;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// A JWT (HS256) to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

const REFUSED: &str = "invalid email or password";

/// Log in
///
/// An email and a password for an access token, valid one hour. Needs no credentials, and
/// takes no `Idempotency-Key` (it creates nothing).
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth", operation_id = "login", security(()),
    request_body(content = LoginRequest, examples(
        ("admin" = (summary = "The first administrator of README.md's \"Protecting it\"", value = json!(examples::login()))),
    )),
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = ErrorBody),
        (status = 409, description = "Authentication is off (local mode): set `BATON_JWT_SECRET`", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`email` or `password` missing, or not strings", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    if state.auth.mode() == crate::config::AuthMode::Local {
        return Err(ApiError::Conflict {
            message: "authentication is off (local mode): set BATON_JWT_SECRET to log in".into(),
            details: None,
        });
    }
    let LoginRequest { email, password } = body.into_inner();
    // A malformed email is just an unknown one: the answer must not differ.
    let credentials = match Email::new(&email) {
        Ok(email) => state.users.credentials(&email).await?,
        Err(_) => None,
    };
    let Some(user) = state.auth.check_password(credentials, password).await? else {
        return Err(ApiError::unauthorized(REFUSED));
    };
    let principal = Principal {
        user: user.id,
        role: user.role,
    };
    let token = state.auth.issue(principal)?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        access_token: token.token,
        token_type: "Bearer",
        expires_in: token.expires_in.as_secs(),
    }))
}
