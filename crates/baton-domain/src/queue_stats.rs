//! How the queue stands: runnable tasks waiting for a worker, and how long the oldest has.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Tasks that are queued and runnable now (their time has come by the store's clock); parked
/// sleeps and waits, and retries whose delay has not passed, are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// How many.
    pub depth: u64,
    /// Since when the one runnable the longest has been (`None` when none is).
    pub oldest_runnable_since: Option<DateTime<Utc>>,
    /// The store's time when it counted.
    pub counted_at: Option<DateTime<Utc>>,
}

impl QueueStats {
    /// How long the oldest runnable task has waited, by the store's clock (zero when none).
    pub fn oldest_wait(&self) -> Duration {
        match (self.oldest_runnable_since, self.counted_at) {
            (Some(since), Some(now)) => (now - since).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_wait_is_measured_by_the_store_clock_and_never_negative() {
        let now = Utc::now();
        let stats = QueueStats {
            depth: 2,
            oldest_runnable_since: Some(now - chrono::Duration::seconds(3)),
            counted_at: Some(now),
        };
        assert_eq!(stats.oldest_wait(), Duration::from_secs(3));
        let skewed = QueueStats {
            oldest_runnable_since: Some(now + chrono::Duration::seconds(1)),
            ..stats
        };
        assert_eq!(skewed.oldest_wait(), Duration::ZERO);
        assert_eq!(QueueStats::default().oldest_wait(), Duration::ZERO);
    }
}
