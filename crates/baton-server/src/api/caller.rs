//! Who is calling, as handlers see it. The identity was resolved once by the authentication
//! middleware (`protection::authn`); these extractors turn it into a caller or a 401/403 in the
//! error format. In local mode every caller is the built-in local admin.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use baton_domain::ports::Scope;
use baton_domain::{Principal, Role, UserId};

use crate::error::ApiError;
use crate::protection::Identity;

#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// Owner of what the caller creates.
    pub user: UserId,
    /// What the caller may see and change.
    pub scope: Scope,
    pub role: Role,
}

impl Caller {
    pub const LOCAL_ADMIN: Caller = Caller {
        user: UserId::LOCAL_ADMIN,
        scope: Scope::All,
        role: Role::Admin,
    };

    pub fn principal(&self) -> Principal {
        Principal {
            user: self.user,
            role: self.role,
        }
    }
}

impl From<Principal> for Caller {
    fn from(principal: Principal) -> Self {
        Caller {
            user: principal.user,
            scope: principal.scope(),
            role: principal.role,
        }
    }
}

fn caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    match req.extensions().get::<Identity>() {
        Some(Identity::Principal(principal)) => Ok(Caller::from(*principal)),
        Some(Identity::Rejected(reason)) => Err(ApiError::Unauthorized {
            message: (*reason).to_owned(),
            bearer_error: Some("invalid_token"),
        }),
        Some(Identity::Unavailable) => Err(ApiError::Unavailable(
            "credentials cannot be checked right now; try again shortly".into(),
        )),
        Some(Identity::Anonymous) | None => Err(ApiError::unauthorized(
            "authentication required: send `Authorization: Bearer <access token or API key>` \
             or `X-API-Key: <API key>`",
        )),
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(caller(req))
    }
}

/// A caller who is an administrator; members get 403.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller(pub Caller);

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(caller(req).and_then(|caller| match caller.role {
            Role::Admin => Ok(AdminCaller(caller)),
            Role::Member => Err(ApiError::Forbidden(
                "this route is for administrators".into(),
            )),
        }))
    }
}
