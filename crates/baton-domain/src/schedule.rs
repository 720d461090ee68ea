//! Schedules: a definition run on a cron, and the rule of which tick fires when.
//!
//! The rule ([`Schedule::fire`]) is pure: given the schedule as read and the time now, it says
//! which tick (if any) starts a run and when the schedule is next due. The store applies that
//! decision fenced on the `next_fire_at` it was made from ([`ScheduleFire`]), so of all the
//! instances that read a due schedule, exactly one fires each tick.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::Errors;
use crate::{
    CronSpec, Definition, DefinitionName, DomainError, Firing, NewWorkflow, UserId, check_json,
};

/// A tick late by at most this much still fires (each its own run); older ones are missed and
/// handled by the schedule's [`Misfire`] policy.
pub const MISFIRE_GRACE: Duration = Duration::from_secs(30);

/// How many upcoming ticks a schedule shows.
pub const SHOWN_FIRE_TIMES: usize = 5;

/// What happens to ticks missed by more than [`MISFIRE_GRACE`] (Baton was down, or paused
/// ticks are never caught up anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    /// They are dropped: the next fire is the first tick after now.
    Skip,
    /// They collapse into one run, for the latest missed tick.
    RunOnce,
}

impl Misfire {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::RunOnce => "run_once",
        }
    }
}

impl FromStr for Misfire {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        match s {
            "skip" => Ok(Self::Skip),
            "run_once" => Ok(Self::RunOnce),
            other => Err(DomainError::invalid(
                "misfire",
                format!("{other:?} is not a misfire policy: use \"skip\" or \"run_once\""),
            )),
        }
    }
}

/// A schedule as a client sent it, unchecked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleDraft {
    pub definition: String,
    pub input: Option<Value>,
    pub cron: String,
    pub timezone: Option<String>,
    pub misfire: Option<String>,
    pub version: Option<i32>,
}

/// A schedule to store, checked; its first fire is the first tick after its creation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    pub id: Uuid,
    pub owner_id: UserId,
    pub definition: DefinitionName,
    pub version: Option<i32>,
    pub input: Value,
    pub cron: CronSpec,
    pub misfire: Misfire,
    pub next_fire_at: Option<DateTime<Utc>>,
}

impl NewSchedule {
    /// Checks every field at once: `definition`, `cron`, `timezone` (default UTC), `misfire`
    /// (default skip), `version` (positive), `input` (an object).
    pub fn new(
        owner_id: UserId,
        draft: ScheduleDraft,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let definition = errors
            .check(DefinitionName::new(&draft.definition).map_err(|e| rename(e, "definition")));
        let timezone = draft.timezone.unwrap_or_else(|| "UTC".to_owned());
        let cron = errors.check(CronSpec::new(&draft.cron, &timezone));
        let misfire = errors.check(
            draft
                .misfire
                .as_deref()
                .unwrap_or("skip")
                .parse::<Misfire>(),
        );
        if draft.version.is_some_and(|v| v < 1) {
            errors.add("version", "must be a version number, 1 or more");
        }
        let input = draft
            .input
            .unwrap_or_else(|| Value::Object(Default::default()));
        if !input.is_object() {
            errors.add("input", "must be a JSON object");
        }
        errors.check(check_json("input", &input));
        errors.finish()?;
        match (definition, cron, misfire) {
            (Some(definition), Some(cron), Some(misfire)) => Ok(Self {
                id: Uuid::now_v7(),
                owner_id,
                definition,
                version: draft.version,
                input,
                next_fire_at: cron.next_after(now),
                cron,
                misfire,
            }),
            _ => Err(DomainError::invalid("", "invalid schedule")),
        }
    }
}

fn rename(err: DomainError, field: &str) -> DomainError {
    match err {
        DomainError::Invalid(fields) => DomainError::Invalid(
            fields
                .into_iter()
                .map(|mut f| {
                    f.field = field.to_owned();
                    f
                })
                .collect(),
        ),
        other => other,
    }
}

/// Which schedule and tick started a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleRef {
    pub id: Uuid,
    pub at: DateTime<Utc>,
}

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub id: Uuid,
    pub owner_id: UserId,
    pub definition: String,
    /// The definition version it runs; `None`: the latest at each fire.
    pub version: Option<i32>,
    pub input: Value,
    pub cron: String,
    pub timezone: String,
    pub misfire: Misfire,
    pub paused: bool,
    /// When it is next due (`None` when its cron has no tick left).
    pub next_fire_at: Option<DateTime<Utc>>,
    pub last_fired_at: Option<DateTime<Utc>>,
    /// Why it was paused by Baton (its definition was deleted or no longer makes a workflow).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Schedule {
    pub fn spec(&self) -> Result<CronSpec, DomainError> {
        CronSpec::new(&self.cron, &self.timezone)
    }

    /// Decides what the schedule does at `now`; `None` when it is paused or not due.
    pub fn fire(&self, now: DateTime<Utc>) -> Option<Firing> {
        let due = self
            .next_fire_at
            .filter(|due| !self.paused && *due <= now)?;
        let Ok(spec) = self.spec() else {
            return Some(Firing {
                expected: due,
                tick: None,
                next: None,
            });
        };
        let grace = chrono::Duration::from_std(MISFIRE_GRACE).unwrap_or_default();
        if now - due <= grace {
            return Some(Firing {
                expected: due,
                tick: Some(due),
                next: spec.next_after(due),
            });
        }
        let tick = match self.misfire {
            Misfire::Skip => None,
            Misfire::RunOnce => spec.last_until(now).filter(|t| *t >= due),
        };
        Some(Firing {
            expected: due,
            tick,
            next: spec.next_after(now),
        })
    }

    /// The `next_fire_at` of a resume at `now`: the first tick after now (paused ticks are not
    /// caught up). `None` when it is not paused: resuming changes nothing.
    pub fn resume(&self, now: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        self.paused
            .then(|| self.spec().ok().and_then(|spec| spec.next_after(now)))
    }

    /// The next ticks it will fire, from its `next_fire_at` (or, paused, from `now`, where a
    /// resume would start).
    pub fn next_fire_times(&self, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let Ok(spec) = self.spec() else {
            return Vec::new();
        };
        let from = match (self.paused, self.next_fire_at) {
            (false, Some(next)) => next,
            (false, None) => return Vec::new(),
            (true, _) => match spec.next_after(now) {
                Some(next) => next,
                None => return Vec::new(),
            },
        };
        spec.upcoming(from, SHOWN_FIRE_TIMES)
    }

    /// The run of `tick`: `definition` (its owner's) with this schedule's input, owned by the
    /// schedule's owner and tagged with the schedule and tick.
    pub fn run(
        &self,
        definition: &Definition,
        tick: DateTime<Utc>,
    ) -> Result<NewWorkflow, DomainError> {
        Ok(definition
            .run(self.owner_id, Some(self.input.clone()))?
            .with_schedule(ScheduleRef {
                id: self.id,
                at: tick,
            }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(cron: &str, misfire: Misfire, next: &str) -> Schedule {
        Schedule {
            id: Uuid::now_v7(),
            owner_id: UserId::LOCAL_ADMIN,
            definition: "d".into(),
            version: None,
            input: json!({}),
            cron: cron.into(),
            timezone: "UTC".into(),
            misfire,
            paused: false,
            next_fire_at: Some(at(next)),
            last_fired_at: None,
            last_error: None,
            created_at: at("2026-01-01T00:00:00Z"),
            updated_at: at("2026-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn a_due_tick_within_the_grace_fires_and_the_next_is_the_tick_after_it() {
        let s = schedule("* * * * *", Misfire::Skip, "2026-01-01T10:00:00Z");
        assert_eq!(s.fire(at("2026-01-01T09:59:59Z")), None, "not due");
        let firing = s.fire(at("2026-01-01T10:00:29Z")).unwrap();
        assert_eq!(firing.expected, at("2026-01-01T10:00:00Z"));
        assert_eq!(firing.tick, Some(at("2026-01-01T10:00:00Z")));
        assert_eq!(firing.next, Some(at("2026-01-01T10:01:00Z")));
        // Exactly at the grace: still on time.
        let firing = s.fire(at("2026-01-01T10:00:30Z")).unwrap();
        assert_eq!(firing.tick, Some(at("2026-01-01T10:00:00Z")));
    }

    #[test]
    fn late_ticks_within_the_grace_fire_one_by_one() {
        let s = schedule("* * * * * *", Misfire::Skip, "2026-01-01T10:00:00Z");
        let firing = s.fire(at("2026-01-01T10:00:05.500Z")).unwrap();
        assert_eq!(firing.tick, Some(at("2026-01-01T10:00:00Z")));
        assert_eq!(
            firing.next,
            Some(at("2026-01-01T10:00:01Z")),
            "the next one is due too"
        );
    }

    #[test]
    fn missed_ticks_are_skipped_under_skip() {
        let s = schedule("* * * * *", Misfire::Skip, "2026-01-01T10:00:00Z");
        let firing = s.fire(at("2026-01-01T10:05:10Z")).unwrap();
        assert_eq!(firing.expected, at("2026-01-01T10:00:00Z"));
        assert_eq!(firing.tick, None);
        assert_eq!(
            firing.next,
            Some(at("2026-01-01T10:06:00Z")),
            "the first after now"
        );
    }

    #[test]
    fn missed_ticks_collapse_into_one_run_for_the_latest_under_run_once() {
        let s = schedule("* * * * *", Misfire::RunOnce, "2026-01-01T10:00:00Z");
        let firing = s.fire(at("2026-01-01T10:05:10Z")).unwrap();
        assert_eq!(firing.tick, Some(at("2026-01-01T10:05:00Z")));
        assert_eq!(firing.next, Some(at("2026-01-01T10:06:00Z")));
        // 31 s late: past the grace, the only missed tick is the due one.
        let firing = s.fire(at("2026-01-01T10:00:31Z")).unwrap();
        assert_eq!(firing.tick, Some(at("2026-01-01T10:00:00Z")));
        assert_eq!(firing.next, Some(at("2026-01-01T10:01:00Z")));
    }

    #[test]
    fn paused_schedules_do_not_fire_and_resume_from_now() {
        let mut s = schedule("0 * * * *", Misfire::RunOnce, "2026-01-01T10:00:00Z");
        assert_eq!(s.resume(at("2026-01-01T12:30:00Z")), None, "not paused");
        s.paused = true;
        assert_eq!(s.fire(at("2026-01-01T12:30:00Z")), None);
        assert_eq!(
            s.resume(at("2026-01-01T12:30:00Z")),
            Some(Some(at("2026-01-01T13:00:00Z")))
        );
        assert_eq!(
            s.next_fire_times(at("2026-01-01T12:30:00Z"))[0],
            at("2026-01-01T13:00:00Z")
        );
    }

    #[test]
    fn new_schedules_check_every_field_and_start_after_now() {
        let now = at("2026-06-01T06:30:00Z");
        let s = NewSchedule::new(
            UserId::LOCAL_ADMIN,
            ScheduleDraft {
                definition: "digest".into(),
                cron: "0 9 * * *".into(),
                timezone: Some("Europe/Paris".into()),
                ..ScheduleDraft::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(s.next_fire_at, Some(at("2026-06-01T07:00:00Z")));
        assert_eq!(s.misfire, Misfire::Skip);
        let err = NewSchedule::new(
            UserId::LOCAL_ADMIN,
            ScheduleDraft {
                definition: "a b".into(),
                cron: "nope".into(),
                timezone: Some("Nowhere/City".into()),
                misfire: Some("later".into()),
                version: Some(0),
                input: Some(json!([])),
            },
            now,
        )
        .unwrap_err();
        let DomainError::Invalid(fields) = err else {
            panic!("expected Invalid")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "definition",
                "cron",
                "timezone",
                "misfire",
                "version",
                "input"
            ]
        );
    }
}
