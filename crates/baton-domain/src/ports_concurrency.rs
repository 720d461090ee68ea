//! The port of concurrency keys. Re-exported from [`crate::ports`]; every [`WorkflowStore`]
//! is one.
//!
//! [`WorkflowStore`]: crate::ports::WorkflowStore

use async_trait::async_trait;

use crate::ports::StoreError;
use crate::{Admission, ConcurrencyKey, KeyState, UserId};

/// How the workflows of a concurrency key stand, and applying decided admissions. Keys are
/// per owner: two owners' `acme` are two keys.
#[async_trait]
pub trait ConcurrencyStore: Send + Sync + 'static {
    /// How many workflows of `owner`'s `key` are running, and the first `max` of those
    /// queued, oldest first (by the time they were queued, then id).
    async fn key_state(
        &self,
        owner: UserId,
        key: &ConcurrencyKey,
        max: u32,
    ) -> Result<KeyState, StoreError>;

    /// Applies `admission` in one transaction, under a lock of its (owner, key) that every
    /// admission of the key takes (so two never count the same free slot): each start as
    /// [`WorkflowStore::apply_transition`](crate::ports::WorkflowStore::apply_transition)
    /// applies it, the started workflows keeping `admission.key`. `Stale`, changing nothing,
    /// when more than `admission.running` of the key are running, when `none_queued` and one
    /// of the key is queued, or when a started workflow no longer has its transition's `from`
    /// status.
    async fn admit(&self, admission: &Admission) -> Result<(), StoreError>;

    /// The (owner, key) pairs that have queued workflows, at most `limit`, read through an
    /// index of queued workflows (not a scan of every workflow).
    async fn queued_keys(&self, limit: u32) -> Result<Vec<(UserId, ConcurrencyKey)>, StoreError>;
}
