//! Leases: who holds a claimed task. The token is made here, never by a store, and every write
//! about a claimed attempt is conditioned on it.

use std::fmt;

use uuid::Uuid;

/// The fencing token of one claim: `<worker>/<uuid>`, unique per claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(String);

impl LeaseToken {
    /// A fresh token for a claim by `worker`.
    pub fn new(worker: &str) -> Self {
        Self(format!("{worker}/{}", Uuid::new_v4()))
    }

    /// A token as a store read it back (a task's `lease_owner`).
    pub fn from_stored(token: String) -> Self {
        Self(token)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The worker that holds the lease.
    pub fn worker(&self) -> &str {
        self.0
            .rsplit_once('/')
            .map_or(&self.0, |(worker, _)| worker)
    }
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_name_their_worker() {
        let a = LeaseToken::new("host-1-ab/c");
        let b = LeaseToken::new("host-1-ab/c");
        assert_ne!(a, b);
        assert_eq!(a.worker(), "host-1-ab/c");
    }
}
