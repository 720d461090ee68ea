//! The times tasks this process parked wake by themselves: idle workers look for work then
//! rather than at their next poll, so a sleep ends on time instead of up to a poll late.
//! Only a hint (the store decides what is runnable; other instances' parks are not known
//! here): a claim at the alarm that finds nothing simply waits again.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// A little after the wake time, so that the store's clock has surely reached it.
const MARGIN: Duration = Duration::from_millis(5);

/// The most wake times kept; beyond, the latest are dropped (those tasks wake at a poll).
const MOST: usize = 4_096;

#[derive(Default)]
pub(super) struct Alarm {
    times: Mutex<BTreeSet<Instant>>,
}

impl Alarm {
    /// A task parked until `at` (by this process's clock).
    pub(super) fn set(&self, at: DateTime<Utc>) {
        let after = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let when = Instant::now() + after + MARGIN;
        if let Ok(mut times) = self.times.lock() {
            times.insert(when);
            if times.len() > MOST {
                times.pop_last();
            }
        }
    }

    /// When an idle worker looks for work again: after `poll`, or at the next alarm when sooner
    /// (alarms that have rung are forgotten).
    pub(super) fn idle_until(&self, poll: Duration) -> Instant {
        self.idle_from(Instant::now(), poll)
    }

    fn idle_from(&self, now: Instant, poll: Duration) -> Instant {
        let mut until = now + poll;
        if let Ok(mut times) = self.times.lock() {
            while times.first().is_some_and(|at| *at <= now) {
                times.pop_first();
            }
            if let Some(at) = times.first() {
                until = until.min(*at);
            }
        }
        until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_shorten_the_idle_wait_until_they_ring() {
        let alarm = Alarm::default();
        let poll = Duration::from_secs(10);
        let start = Instant::now();
        assert!(alarm.idle_until(poll) >= start + poll, "no alarm: the poll");
        alarm.set(Utc::now() + chrono::Duration::seconds(5));
        alarm.set(Utc::now() + chrono::Duration::seconds(1));
        alarm.set(Utc::now() + chrono::Duration::seconds(3));
        let until = alarm.idle_until(poll);
        assert!(until < start + Duration::from_secs(2), "the earliest one");
        assert!(until >= start + Duration::from_secs(1));
        alarm.set(Utc::now() - chrono::Duration::seconds(1));
        let rung = alarm.idle_until(poll);
        assert!(
            rung <= Instant::now() + MARGIN,
            "a past alarm rings at once"
        );
        // Rung alarms are forgotten; the next ones still ring.
        let later = Instant::now() + Duration::from_millis(1_500);
        let next = alarm.idle_from(later, poll);
        assert!(
            next > later && next < later + Duration::from_secs(2),
            "the 3 s one"
        );
        let much_later = Instant::now() + Duration::from_secs(6);
        assert_eq!(alarm.idle_from(much_later, poll), much_later + poll);
    }
}
