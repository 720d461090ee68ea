use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::error::Errors;

/// How often and how patiently a task is retried after a retryable error.
///
/// The delay before attempt `n + 1` is drawn uniformly from `[0, min(max_ms, initial_ms ×
/// multiplier^(n-1))]` ("full jitter"), so many failing tasks do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_ms: u64,
    max_ms: u64,
    multiplier: f64,
}

/// The fields of a [`RetryPolicy`] as a client sends them; missing ones take the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryDraft {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_ms: 1_000,
            max_ms: 60_000,
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    pub const MAX_ATTEMPTS: u32 = 100;
    pub const MAX_DELAY_MS: u64 = 24 * 3_600_000;

    /// Checks every field; `field` errors are reported as `retry.<name>`.
    pub fn new(
        max_attempts: u32,
        initial_ms: u64,
        max_ms: u64,
        multiplier: f64,
    ) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        if !(1..=Self::MAX_ATTEMPTS).contains(&max_attempts) {
            errors.add("retry.max_attempts", "must be between 1 and 100");
        }
        if !(1..=Self::MAX_DELAY_MS).contains(&initial_ms) {
            errors.add("retry.initial_ms", "must be between 1 and 86400000");
        }
        if !(1..=Self::MAX_DELAY_MS).contains(&max_ms) {
            errors.add("retry.max_ms", "must be between 1 and 86400000");
        } else if max_ms < initial_ms {
            errors.add("retry.max_ms", "must not be less than initial_ms");
        }
        if !multiplier.is_finite() || !(1.0..=10.0).contains(&multiplier) {
            errors.add("retry.multiplier", "must be between 1 and 10");
        }
        errors.finish()?;
        Ok(Self {
            max_attempts,
            initial_ms,
            max_ms,
            multiplier,
        })
    }

    /// A policy from what the client sent, defaults filling the gaps.
    pub fn from_draft(draft: RetryDraft) -> Result<Self, DomainError> {
        let d = Self::default();
        Self::new(
            draft.max_attempts.unwrap_or(d.max_attempts),
            draft.initial_ms.unwrap_or(d.initial_ms),
            draft
                .max_ms
                .unwrap_or(d.max_ms.max(draft.initial_ms.unwrap_or(0))),
            draft.multiplier.unwrap_or(d.multiplier),
        )
    }

    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    pub const fn initial_ms(&self) -> u64 {
        self.initial_ms
    }

    pub const fn max_ms(&self) -> u64 {
        self.max_ms
    }

    pub const fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// Whether another attempt may follow attempt number `attempt` (1-based).
    pub const fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// The longest delay after attempt number `attempt` (1-based) failed.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let ms = (self.initial_ms as f64) * self.multiplier.powi(exponent);
        let ms = if ms.is_finite() {
            ms.min(self.max_ms as f64)
        } else {
            self.max_ms as f64
        };
        Duration::from_millis(ms as u64)
    }

    /// The delay after attempt `attempt` failed, with full jitter: `unit` is a uniform random
    /// number in `[0, 1)` supplied by the caller (the domain holds no random source).
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sensible() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts(), 3);
        assert!(p.allows_another(2));
        assert!(!p.allows_another(3));
    }

    #[test]
    fn ceiling_grows_exponentially_and_is_capped() {
        let p = RetryPolicy::new(10, 100, 1_000, 2.0).unwrap();
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_millis(1_000));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_millis(1_000));
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling() {
        let p = RetryPolicy::new(10, 100, 1_000, 3.0).unwrap();
        assert_eq!(p.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(450));
        assert_eq!(p.backoff(3, 7.0), p.ceiling(3), "unit is clamped");
    }

    #[test]
    fn rejects_bad_values_naming_each_field() {
        let err = RetryPolicy::new(0, 0, 0, f64::NAN).unwrap_err().to_string();
        for field in ["max_attempts", "initial_ms", "max_ms", "multiplier"] {
            assert!(err.contains(&format!("retry.{field}")), "{err}");
        }
        assert!(
            RetryPolicy::new(3, 500, 100, 2.0).is_err(),
            "max below initial"
        );
    }

    #[test]
    fn draft_fills_defaults_and_raises_max_to_initial() {
        let p = RetryPolicy::from_draft(RetryDraft {
            initial_ms: Some(120_000),
            ..RetryDraft::default()
        })
        .unwrap();
        assert_eq!(p.max_ms(), 120_000);
        assert_eq!(p.max_attempts(), 3);
    }
}
