//! Time, by SQLite's clock only, in one representation: TEXT as
//! `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')` writes it (RFC 3339, UTC, milliseconds, fixed width),
//! so comparing two stored times as text compares the times. Leases and retry times are
//! computed by SQLite (`'now'` plus a modifier), never by this process's clock; within one
//! statement `'now'` is one instant.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::sql_types::Text;

/// The format of every stored time.
pub(crate) const FORMAT: &str = "%Y-%m-%dT%H:%M:%fZ";

diesel::define_sql_function! {
    /// SQLite's `strftime(format, time)`.
    #[sql_name = "strftime"]
    fn strftime(format: Text, time: Text) -> Text;
}

diesel::define_sql_function! {
    /// SQLite's `strftime(format, time, modifier)`.
    #[sql_name = "strftime"]
    fn strftime_shifted(format: Text, time: Text, modifier: Text) -> Text;
}

/// The store's time now.
pub(crate) fn now() -> strftime<&'static str, &'static str> {
    strftime(FORMAT, "now")
}

/// The store's time `after` from now.
pub(crate) fn later(after: Duration) -> strftime_shifted<&'static str, &'static str, String> {
    strftime_shifted(FORMAT, "now", shift(after, true))
}

/// The store's time `before` ago.
pub(crate) fn ago(before: Duration) -> strftime_shifted<&'static str, &'static str, String> {
    strftime_shifted(FORMAT, "now", shift(before, false))
}

/// The longest shift: beyond SQLite's calendar (year 9999) `strftime` answers NULL, which
/// would leave a retried task queued with no time at all. A century is "never" enough.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3_600);

/// A `strftime` modifier moving a time by `by` (to the millisecond, at most a century), as a
/// bound value.
pub(crate) fn shift(by: Duration, forward: bool) -> String {
    let sign = if forward { '+' } else { '-' };
    format!("{sign}{:.3} seconds", by.min(LONGEST).as_secs_f64())
}

/// A time of this process's deciding (a schedule's tick, a sleep's end) as the store writes
/// times, so that it compares as text with the store's own (SQLite's `%f` is seconds with
/// milliseconds: chrono's `%S%.3f`).
pub(crate) fn text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A stored time.
pub(crate) fn parse(text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("a stored time {text:?}"))
}

pub(crate) fn parse_opt(text: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    text.map(parse).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_are_seconds_with_milliseconds() {
        assert_eq!(shift(Duration::from_millis(1), true), "+0.001 seconds");
        assert_eq!(shift(Duration::from_secs(3_600), true), "+3600.000 seconds");
        assert_eq!(shift(Duration::ZERO, false), "-0.000 seconds");
        assert_eq!(
            shift(Duration::MAX, true),
            "+3153600000.000 seconds",
            "a century at most"
        );
    }

    /// SQLite writes the format `parse` reads, and shifts by as much as `shift` allows.
    #[test]
    fn sqlite_writes_what_parse_reads() {
        use diesel::{Connection, NullableExpressionMethods, RunQueryDsl, SqliteConnection};
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let (now, soon, far, past): (String, String, Option<String>, String) = diesel::select((
            super::now(),
            later(Duration::from_millis(1_500)),
            later(Duration::MAX).nullable(),
            ago(Duration::from_secs(60)),
        ))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(now.len(), "2026-12-02T09:30:00.250Z".len(), "{now}");
        let (now, soon, past) = (
            parse(&now).unwrap(),
            parse(&soon).unwrap(),
            parse(&past).unwrap(),
        );
        assert_eq!((soon - now).num_milliseconds(), 1_500);
        assert_eq!((now - past).num_seconds(), 60);
        let far = parse(&far.expect("a century later is still a time")).unwrap();
        assert!((far - now).num_days() >= 36_500);
    }

    #[test]
    fn times_written_here_read_back_and_sort_as_sqlite_s() {
        let t = parse("2026-12-02T09:30:00.250Z").unwrap();
        assert_eq!(text(t), "2026-12-02T09:30:00.250Z");
        let whole = parse("2026-12-02T09:30:01Z").unwrap();
        assert_eq!(text(whole), "2026-12-02T09:30:01.000Z");
        assert!(text(t) < text(whole));
    }

    #[test]
    fn stored_times_parse_as_utc() {
        let t = parse("2026-12-02T09:30:00.250Z").unwrap();
        assert_eq!(t.timestamp_millis() % 1_000, 250);
        assert!(parse("yesterday").is_err());
    }
}
