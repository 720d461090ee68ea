//! Shared provider limits: whether a call to a model may go now, decided over the state every
//! instance shares (kept in the store) with the generic cell rate algorithm (GCRA). Requests
//! are spaced evenly (`60 s / requests_per_minute` apart, no burst); tokens may burst up to one
//! minute's worth. A model the provider rate-limited is held until the time it named.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A model's limits (`BATON_LLM_LIMITS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelLimit {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u64>,
}

/// What the store keeps of a model: the theoretical arrival times of the next request and of
/// the token budget, and until when the provider asked to be left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelPace {
    pub requests_at: Option<DateTime<Utc>>,
    pub tokens_at: Option<DateTime<Utc>>,
    pub held_until: Option<DateTime<Utc>>,
}

/// The decision for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// It may go; the store keeps this state.
    Go(ModelPace),
    /// Ask again after this long.
    Wait(Duration),
}

const MINUTE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

fn wait(from: DateTime<Utc>, until: DateTime<Utc>) -> Duration {
    (until - from)
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_millis(1))
}

impl ModelPace {
    /// Whether a call estimated at `tokens` may go at `now` (the store's clock).
    pub fn decide(&self, now: DateTime<Utc>, limit: &ModelLimit, tokens: u64) -> Pace {
        if let Some(until) = self.held_until.filter(|until| *until > now) {
            return Pace::Wait(wait(now, until));
        }
        let mut next = *self;
        if let Some(rpm) = limit.requests_per_minute.filter(|n| *n > 0) {
            let at = self.requests_at.unwrap_or(now).max(now);
            if at > now {
                return Pace::Wait(wait(now, at));
            }
            next.requests_at = Some(at + MINUTE / i32::try_from(rpm).unwrap_or(i32::MAX));
        }
        if let Some(tpm) = limit.tokens_per_minute.filter(|n| *n > 0) {
            let at = self.tokens_at.unwrap_or(now).max(now);
            let cost = chrono::TimeDelta::microseconds(
                i64::try_from(u128::from(tokens.min(tpm)) * 60_000_000 / u128::from(tpm))
                    .unwrap_or(i64::MAX),
            );
            let after = at + cost;
            // The budget may run a minute ahead of now; a call bigger than it all goes when
            // nothing is owed.
            if after - now > MINUTE && at > now {
                return Pace::Wait(wait(now, after - MINUTE));
            }
            next.tokens_at = Some(after);
        }
        Pace::Go(next)
    }

    /// The state after the provider asked to wait until `until`.
    pub fn held(&self, until: DateTime<Utc>) -> Self {
        Self {
            held_until: Some(self.held_until.map_or(until, |h| h.max(until))),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn requests_are_spaced_evenly() {
        let limit = ModelLimit {
            requests_per_minute: Some(120),
            tokens_per_minute: None,
        };
        let Pace::Go(state) = ModelPace::default().decide(at(0), &limit, 10) else {
            panic!("the first call goes");
        };
        assert_eq!(state.requests_at, Some(at(500)));
        assert_eq!(
            state.decide(at(100), &limit, 10),
            Pace::Wait(Duration::from_millis(400))
        );
        assert!(matches!(state.decide(at(500), &limit, 10), Pace::Go(_)));
    }

    #[test]
    fn tokens_burst_up_to_a_minute_then_wait() {
        let limit = ModelLimit {
            requests_per_minute: None,
            tokens_per_minute: Some(1000),
        };
        let mut state = ModelPace::default();
        for _ in 0..2 {
            match state.decide(at(0), &limit, 500) {
                Pace::Go(next) => state = next,
                Pace::Wait(w) => panic!("waited {w:?}"),
            }
        }
        assert_eq!(
            state.decide(at(0), &limit, 500),
            Pace::Wait(Duration::from_secs(30))
        );
    }

    #[test]
    fn a_held_model_waits_whatever_its_limits() {
        let state = ModelPace::default().held(at(2000));
        assert_eq!(
            state.decide(at(500), &ModelLimit::default(), 1),
            Pace::Wait(Duration::from_millis(1500))
        );
        assert!(matches!(
            state.decide(at(2000), &ModelLimit::default(), 1),
            Pace::Go(_)
        ));
    }
}
