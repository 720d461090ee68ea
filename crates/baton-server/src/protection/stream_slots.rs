//! A bound on the live event streams one caller holds open at once (`BATON_SSE_PER_CALLER`):
//! past it a new stream answers 429, so one caller cannot hold every connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton_domain::UserId;

use crate::error::ApiError;

/// Streams open per caller, on this instance.
#[derive(Clone)]
pub struct StreamSlots {
    limit: usize,
    held: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// One open stream; dropping it (the stream ended) frees the slot.
pub struct StreamSlot {
    user: UserId,
    held: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl StreamSlots {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            held: Arc::default(),
        }
    }

    /// A slot for `user`, or 429 when they already hold `limit` streams.
    pub fn acquire(&self, user: UserId) -> Result<StreamSlot, ApiError> {
        let mut held = self
            .held
            .lock()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("the stream slots are poisoned")))?;
        let count = held.entry(user).or_insert(0);
        if *count >= self.limit {
            return Err(ApiError::RateLimited {
                message: format!(
                    "this caller already has {} live event streams open (BATON_SSE_PER_CALLER); \
                     close one first",
                    self.limit
                ),
                retry_after: 1,
            });
        }
        *count += 1;
        Ok(StreamSlot {
            user,
            held: self.held.clone(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock()
            && let Some(count) = held.get_mut(&self.user)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_at_most_the_limit_and_a_closed_stream_frees_its_slot() {
        let slots = StreamSlots::new(2);
        let a = UserId::LOCAL_ADMIN;
        let first = slots.acquire(a).unwrap();
        let _second = slots.acquire(a).unwrap();
        assert!(matches!(
            slots.acquire(a),
            Err(ApiError::RateLimited { .. })
        ));
        drop(first);
        assert!(slots.acquire(a).is_ok());
    }
}
