//! The ports of API protection: users and API keys, and idempotency keys. Re-exported from
//! [`crate::ports`].

use async_trait::async_trait;

use crate::auth::{
    ApiKey, ApiKeyId, Credentials, Email, KeyHash, NewApiKey, NewUser, Principal, User,
};
use crate::idempotency::{Begun, IdempotencyKey, StoredResponse};
use crate::ports::{Page, PageRequest, Scope, StoreError};

/// Persistence of users and their API keys.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new user. `Conflict` when the email is already used.
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;

    /// Stores `user` only if no user exists at all (the first administrator), atomically even
    /// when several instances start together; `Ok(None)` when users exist.
    async fn create_first_user(&self, user: NewUser) -> Result<Option<User>, StoreError>;

    /// Users, newest first.
    async fn list_users(&self, page: PageRequest) -> Result<Page<User>, StoreError>;

    /// The user with this email and their password hash, if any.
    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError>;

    /// Stores a new API key (hashed). `NotFound("user")` when its owner does not exist.
    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError>;

    /// Active (unrevoked) keys in `scope`, newest first.
    async fn list_api_keys(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StoreError>;

    /// Revokes a key at once: its next use fails, on every instance. `NotFound("api key")` when
    /// absent, already revoked or outside `scope`.
    async fn revoke_api_key(&self, scope: Scope, id: ApiKeyId) -> Result<(), StoreError>;

    /// Who the active key with this hash acts as; `None` for unknown or revoked keys.
    async fn principal_for_key(&self, hash: &KeyHash) -> Result<Option<Principal>, StoreError>;
}

/// Persistence of `Idempotency-Key`s and the responses given under them.
///
/// Keys expire after [`IDEMPOTENCY_TTL`](crate::IDEMPOTENCY_TTL); an in-flight key older than
/// [`IN_FLIGHT_TIMEOUT`](crate::IN_FLIGHT_TIMEOUT) is treated as abandoned.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` for the request with `fingerprint` (a digest of method, path and body), or
    /// reports what holds it. Atomic: of concurrent callers, exactly one gets `Started`.
    async fn begin(
        &self,
        key: &IdempotencyKey,
        fingerprint: &[u8; 32],
    ) -> Result<Begun, StoreError>;

    /// Records the response of a `Started` request, to be replayed.
    async fn complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;

    /// Frees a `Started` key without a response (the request failed): it may be used again.
    async fn release(&self, key: &IdempotencyKey) -> Result<(), StoreError>;

    /// Deletes expired keys; returns how many.
    async fn purge_expired(&self) -> Result<u64, StoreError>;
}
