//! `Idempotency-Key`: a client's promise that requests under one key are the same request, so a
//! retry returns the first answer instead of acting twice.

use std::fmt;
use std::time::Duration;

use crate::{DomainError, UserId};

/// How long a key and its response are kept: a key may be used again after this.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// An in-flight key older than this belongs to a request that will never finish (its process
/// died): a new request may take it over.
pub const IN_FLIGHT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A client's key, scoped to the principal that sent it: two users never share a key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    principal: UserId,
    key: String,
}

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    /// 1 to 255 visible ASCII characters.
    pub fn new(principal: UserId, key: &str) -> Result<Self, DomainError> {
        if key.is_empty() || key.len() > Self::MAX_LEN || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(DomainError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self {
            principal,
            key: key.to_owned(),
        })
    }

    pub fn principal(&self) -> UserId {
        self.principal
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({}, {:?})", self.principal, self.key)
    }
}

/// The answer given to the first request under a key, replayed to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers worth replaying (`Content-Type`, `Location`, `ETag`), in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What [`IdempotencyStore::begin`](crate::ports::IdempotencyStore::begin) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The key was free: this request runs, and must end with `complete` or `release`.
    Started,
    /// The same request is running under the key.
    InFlight,
    /// The same request already ran: its response.
    Completed(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        let user = UserId::generate();
        assert!(IdempotencyKey::new(user, "order-42").is_ok());
        for bad in ["", "has space", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::new(user, bad).is_err(), "{bad:?}");
        }
    }
}
