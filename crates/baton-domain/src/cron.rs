//! When a schedule fires: a cron expression (five fields, or six with seconds first) read in an
//! IANA time zone. Ticks are computed in the zone (so "0 9 * * *" in Europe/Paris is 09:00 in
//! Paris, summer and winter) and answered in UTC.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::DomainError;

/// The longest cron expression, in characters.
pub const MAX_CRON_CHARS: usize = 200;

/// A cron expression in a time zone, checked.
#[derive(Clone)]
pub struct CronSpec {
    expression: String,
    zone: Tz,
    cron: Cron,
}

impl fmt::Debug for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSpec({:?} in {})", self.expression, self.zone.name())
    }
}

impl PartialEq for CronSpec {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.zone == other.zone
    }
}

impl CronSpec {
    /// Errors on `cron` (an expression that does not parse) and `timezone` (not an IANA zone
    /// such as `Europe/Paris` or `UTC`), both at once.
    pub fn new(expression: &str, timezone: &str) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let cron = parse(expression).map_err(|message| errors.push(("cron", message)));
        let zone = timezone.parse::<Tz>().map_err(|_| {
            errors.push((
                "timezone",
                format!(
                    "{timezone:?} is not a time zone: use an IANA name such as \"UTC\" or \
                     \"Europe/Paris\""
                ),
            ))
        });
        match (cron, zone) {
            (Ok(cron), Ok(zone)) => Ok(Self {
                expression: expression.to_owned(),
                zone,
                cron,
            }),
            _ => Err(DomainError::Invalid(
                errors
                    .into_iter()
                    .map(|(field, message)| crate::FieldError::new(field, message))
                    .collect(),
            )),
        }
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> &str {
        self.zone.name()
    }

    /// The first tick strictly after `t`; `None` when there is none.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.zone), false)
            .ok()
            .map(|tick| tick.with_timezone(&Utc))
    }

    /// The first tick at or after `t`.
    pub fn first_from(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.zone), true)
            .ok()
            .map(|tick| tick.with_timezone(&Utc))
    }

    /// The last tick at or before `t`.
    pub fn last_until(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.zone), true)
            .ok()
            .map(|tick| tick.with_timezone(&Utc))
    }

    /// Up to `n` ticks from `t` on (`t` included when it is one).
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut ticks = Vec::with_capacity(n);
        let mut next = self.first_from(t);
        while let Some(tick) = next {
            if ticks.len() == n {
                break;
            }
            ticks.push(tick);
            next = self.next_after(tick);
        }
        ticks
    }
}

fn parse(expression: &str) -> Result<Cron, String> {
    if expression.trim().is_empty() {
        return Err("is required".into());
    }
    if expression.chars().count() > MAX_CRON_CHARS {
        return Err(format!("must be at most {MAX_CRON_CHARS} characters"));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expression)
        .map_err(|e| {
            format!(
                "{expression:?} is not a cron expression ({e}): use five fields (minute hour \
                 day-of-month month day-of-week) or six with seconds first, like \"0 9 * * *\""
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn bad_expressions_and_zones_name_their_field() {
        let err = CronSpec::new("61 * * * *", "Mars/Olympus").unwrap_err();
        let DomainError::Invalid(fields) = err else {
            panic!("expected Invalid")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["cron", "timezone"]);
        assert!(CronSpec::new("", "UTC").is_err());
        assert!(CronSpec::new("* * *", "UTC").is_err());
        assert!(CronSpec::new("* * * * * *", "UTC").is_ok(), "seconds");
        assert!(CronSpec::new("0 9 * * MON-FRI", "Europe/Paris").is_ok());
    }

    #[test]
    fn ticks_are_computed_in_the_zone() {
        let nine = CronSpec::new("0 9 * * *", "Europe/Paris").unwrap();
        // Winter: Paris is UTC+1; summer (after 29 March 2026): UTC+2.
        assert_eq!(
            nine.upcoming(at("2026-03-27T12:00:00Z"), 3),
            [
                at("2026-03-28T08:00:00Z"),
                at("2026-03-29T07:00:00Z"),
                at("2026-03-30T07:00:00Z")
            ]
        );
        assert_eq!(
            nine.next_after(at("2026-03-28T08:00:00Z")),
            Some(at("2026-03-29T07:00:00Z"))
        );
        assert_eq!(
            nine.last_until(at("2026-03-28T08:00:00Z")),
            Some(at("2026-03-28T08:00:00Z"))
        );
        let every_second = CronSpec::new("* * * * * *", "UTC").unwrap();
        assert_eq!(
            every_second.next_after(at("2026-01-01T00:00:00.300Z")),
            Some(at("2026-01-01T00:00:01Z"))
        );
    }
}
