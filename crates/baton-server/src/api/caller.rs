//! Who is calling. Without authentication configured (local mode) every caller is the built-in
//! local admin, who owns and sees everything.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use baton_domain::UserId;
use baton_domain::ports::Scope;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// Owner of what the caller creates.
    pub user: UserId,
    /// What the caller may see and change.
    pub scope: Scope,
}

impl Caller {
    pub const LOCAL_ADMIN: Caller = Caller {
        user: UserId::LOCAL_ADMIN,
        scope: Scope::All,
    };
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Caller::LOCAL_ADMIN))
    }
}
