//! Who is calling: credentials are checked once per request, by the [`authenticate`] middleware,
//! and the resulting [`Identity`] is kept in the request's extensions, where the rate limiter,
//! the idempotency layer and the `Caller` extractor read it.
//!
//! Credentials: `Authorization: Bearer <JWT>` (from `POST /api/auth/login`), `Authorization:
//! Bearer <API key>` or `X-API-Key: <API key>`; on the events stream only, also
//! `?access_token=` (for browsers' `EventSource`, which cannot send headers). In local mode (no `BATON_JWT_SECRET`) nothing is
//! checked and every request acts as the built-in local admin.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use baton_auth::{AccessToken, JwtKeys, TokenError, hash_api_key, looks_like_api_key};
use baton_domain::ports::UserStore;
use baton_domain::{Credentials, Principal, User};
use tokio::sync::Semaphore;

use crate::api::AppState;
use crate::config::AuthMode;
use crate::error::ApiError;

pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// What the credentials of a request (or their absence) amount to.
#[derive(Debug, Clone)]
pub enum Identity {
    Principal(Principal),
    /// No credentials were sent.
    Anonymous,
    /// Credentials were sent and refused; the message says why.
    Rejected(&'static str),
    /// The key store could not be asked.
    Unavailable,
}

impl Identity {
    pub fn principal(&self) -> Option<Principal> {
        match self {
            Self::Principal(p) => Some(*p),
            _ => None,
        }
    }
}

/// Checks credentials against the token keys and the user store.
pub struct Authenticator {
    jwt: Option<JwtKeys>,
    users: Arc<dyn UserStore>,
    /// Password hashing costs ~19 MiB and a core for a few tens of milliseconds: at most this
    /// many at once, so a flood of logins cannot exhaust memory or the blocking pool.
    hashing: Semaphore,
}

impl Authenticator {
    pub fn new(jwt: Option<JwtKeys>, users: Arc<dyn UserStore>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            jwt,
            users,
            hashing: Semaphore::new(cores.max(2)),
        }
    }

    /// Runs a password hash or check on the blocking pool, a bounded number at a time.
    async fn hash_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|err| ApiError::Internal(err.into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| ApiError::Internal(err.into()))
    }

    /// The user whose password `password` is, given what is stored for the email (`None` for
    /// an unknown email, which costs the same time as a wrong password).
    pub async fn check_password(
        &self,
        credentials: Option<Credentials>,
        password: String,
    ) -> Result<Option<User>, ApiError> {
        self.hash_work(move || match credentials {
            Some(c) if baton_auth::verify_password(&password, &c.password_hash) => Some(c.user),
            Some(_) => None,
            None => {
                baton_auth::verify_unknown_user(&password);
                None
            }
        })
        .await
    }

    /// The PHC string to store for a new password.
    pub async fn hash_password(&self, password: String) -> Result<String, ApiError> {
        self.hash_work(move || baton_auth::hash_password(&password))
            .await?
            .map_err(|err| ApiError::Internal(err.into()))
    }

    pub fn mode(&self) -> AuthMode {
        if self.jwt.is_some() {
            AuthMode::Authenticated
        } else {
            AuthMode::Local
        }
    }

    /// A new access token for `principal`; a conflict in local mode (no secret to sign with).
    pub fn issue(&self, principal: Principal) -> Result<AccessToken, ApiError> {
        let jwt = self.jwt.as_ref().ok_or_else(|| ApiError::Conflict {
            message: "authentication is off (local mode): set BATON_JWT_SECRET to log in".into(),
            details: None,
        })?;
        jwt.issue(principal)
            .map_err(|err| ApiError::Internal(anyhow::Error::new(err)))
    }

    /// `query_token`: an `access_token` query parameter, accepted only where browsers cannot
    /// send headers (an `EventSource` on the events stream); headers win when both are sent.
    pub async fn identify(&self, headers: &HeaderMap, query_token: Option<&str>) -> Identity {
        let Some(jwt) = &self.jwt else {
            return Identity::Principal(Principal::LOCAL_ADMIN);
        };
        let token = match bearer(headers) {
            Some(Ok(token)) => token,
            Some(Err(rejected)) => return Identity::Rejected(rejected),
            None => match headers.get(X_API_KEY).map(|v| v.to_str()) {
                Some(Ok(key)) => return self.api_key(key.trim()).await,
                Some(Err(_)) => return Identity::Rejected("the X-API-Key header is not valid"),
                None => match query_token {
                    Some(token) => token,
                    None => return Identity::Anonymous,
                },
            },
        };
        if looks_like_api_key(token) {
            return self.api_key(token).await;
        }
        match jwt.verify(token) {
            Ok(principal) => Identity::Principal(principal),
            Err(TokenError::Expired) => Identity::Rejected("the access token has expired"),
            Err(TokenError::Invalid) => Identity::Rejected("the access token is invalid"),
        }
    }

    async fn api_key(&self, key: &str) -> Identity {
        if !looks_like_api_key(key) {
            return Identity::Rejected("the API key is invalid or revoked");
        }
        match self.users.principal_for_key(&hash_api_key(key)).await {
            Ok(Some(principal)) => Identity::Principal(principal),
            Ok(None) => Identity::Rejected("the API key is invalid or revoked"),
            Err(err) => {
                tracing::error!(error = ?err, "cannot check an API key");
                Identity::Unavailable
            }
        }
    }
}

/// The token of `Authorization: Bearer <token>`, if the header is there.
fn bearer(headers: &HeaderMap) -> Option<Result<&str, &'static str>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let malformed = "the Authorization header must be `Bearer <access token or API key>`";
    let Ok(value) = value.to_str() else {
        return Some(Err(malformed));
    };
    let mut parts = value.trim().splitn(2, ' ');
    match (parts.next(), parts.next().map(str::trim)) {
        (Some(scheme), Some(token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() =>
        {
            Some(Ok(token))
        }
        _ => Some(Err(malformed)),
    }
}

/// The `access_token` query parameter of `GET /api/workflows/{id}/events`: a browser's
/// `EventSource` cannot set headers. Accepted nowhere else, so tokens stay out of other URLs.
fn event_stream_token(req: &ServiceRequest) -> Option<String> {
    if req.method() != actix_web::http::Method::GET || !req.path().ends_with("/events") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Params {
        access_token: Option<String>,
    }
    web::Query::<Params>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().access_token)
        .filter(|t| !t.is_empty())
}

/// Resolves the identity of every `/api` request (and of `/metrics`) once and stores it in the
/// extensions.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let identity = match req.app_data::<web::Data<AppState>>() {
        Some(state) if req.path().starts_with("/api/") || req.path() == "/metrics" => {
            let query_token = event_stream_token(&req);
            state
                .auth
                .identify(req.headers(), query_token.as_deref())
                .await
        }
        _ => Identity::Anonymous,
    };
    req.extensions_mut().insert(identity);
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        assert_eq!(bearer(&headers("Bearer abc")), Some(Ok("abc")));
        assert_eq!(bearer(&headers("bearer  abc ")), Some(Ok("abc")));
        assert!(matches!(
            bearer(&headers("Basic dXNlcjpwdw==")),
            Some(Err(_))
        ));
        assert!(matches!(bearer(&headers("Bearer")), Some(Err(_))));
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
