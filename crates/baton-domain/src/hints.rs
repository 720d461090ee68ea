//! How long a server asked us to wait, from the headers HTTP APIs and LLM providers send.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest wait a server's hint can impose (longer hints are cut to this): a third party
/// must not be able to park a task for centuries, or overflow a time computation.
pub const MAX_RETRY_HINT: Duration = Duration::from_secs(24 * 3_600);

/// Seconds as a duration, `None` when negative or not finite, at most [`MAX_RETRY_HINT`].
fn hint(seconds: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .or((seconds.is_finite() && seconds > 0.0).then_some(MAX_RETRY_HINT))
        .map(|d| d.min(MAX_RETRY_HINT))
}

/// `Retry-After`: whole seconds, or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return hint(seconds);
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    (date.with_timezone(&Utc) - now)
        .to_std()
        .ok()
        .map(|d| d.min(MAX_RETRY_HINT))
}

/// `x-ratelimit-reset-requests` / `-tokens` as OpenAI sends them: `20ms`, `1s`, `1.5s`, `6m0s`,
/// `1h2m3s`.
pub fn parse_reset_duration(value: &str) -> Option<Duration> {
    let mut total = 0.0_f64;
    let mut number = String::new();
    let mut chars = value.trim().chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3_600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += n * unit;
        any = true;
    }
    if !number.is_empty() {
        // A bare number: seconds.
        total += number.parse::<f64>().ok()?;
        any = true;
    }
    if any { hint(total) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_or_hostile_hints_are_capped_not_panics() {
        let now = Utc::now();
        assert_eq!(parse_retry_after("1e20", now), Some(MAX_RETRY_HINT));
        assert_eq!(parse_retry_after("99999999999", now), Some(MAX_RETRY_HINT));
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("inf", now), None);
        assert_eq!(parse_reset_duration("1e300s"), None);
        assert_eq!(parse_reset_duration("99999999999h"), Some(MAX_RETRY_HINT));
        let far = (now + chrono::Duration::days(400)).to_rfc2822();
        assert_eq!(parse_retry_after(&far, now), Some(MAX_RETRY_HINT));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc::now();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        let later = (now + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = parse_retry_after(&later, now).unwrap();
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn reset_durations() {
        assert_eq!(
            parse_reset_duration("20ms"),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            parse_reset_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_reset_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(
            parse_reset_duration("1h2m3s"),
            Some(Duration::from_secs(3723))
        );
        assert_eq!(parse_reset_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_reset_duration("x"), None);
        assert_eq!(parse_reset_duration(""), None);
    }
}
