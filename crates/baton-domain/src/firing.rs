//! A schedule's firing as decided ([`Firing`], by [`Schedule::fire`](crate::Schedule::fire))
//! and as the store applies it ([`ScheduleFire`]): fenced on the `next_fire_at` it was decided
//! from, the tick's run created and started in the same transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DomainError, NewWorkflow, Transition};

/// What a due schedule does now, decided by [`Schedule::fire`].
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// The `next_fire_at` it was decided from: the store's fence.
    pub expected: DateTime<Utc>,
    /// The tick a run is started for; `None`: missed ticks are skipped.
    pub tick: Option<DateTime<Utc>>,
    /// When the schedule is next due.
    pub next: Option<DateTime<Utc>>,
}

/// What the store applies for a firing, in one transaction, only while the schedule is not
/// paused and its `next_fire_at` is still [`Firing::expected`].
#[derive(Debug, Clone)]
pub struct ScheduleFire {
    pub schedule_id: Uuid,
    pub expected: DateTime<Utc>,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub outcome: FireOutcome,
}

#[derive(Debug, Clone)]
pub enum FireOutcome {
    /// Create and start this run (tagged with the schedule and tick), then move on.
    Run {
        workflow: Box<NewWorkflow>,
        start: Box<Transition>,
        tick: DateTime<Utc>,
    },
    /// Move on without a run (missed ticks skipped).
    Skip,
    /// Consume the tick and pause the schedule, keeping why.
    Pause { reason: String },
}

impl ScheduleFire {
    /// Starts `workflow` for the firing's tick.
    pub fn run(
        firing: &Firing,
        schedule: Uuid,
        workflow: NewWorkflow,
        tick: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let start = workflow.start()?;
        Ok(Self {
            schedule_id: schedule,
            expected: firing.expected,
            next_fire_at: firing.next,
            outcome: FireOutcome::Run {
                workflow: Box::new(workflow),
                start: Box::new(start),
                tick,
            },
        })
    }

    pub fn skip(firing: &Firing, schedule: Uuid) -> Self {
        Self {
            schedule_id: schedule,
            expected: firing.expected,
            next_fire_at: firing.next,
            outcome: FireOutcome::Skip,
        }
    }

    pub fn pause(firing: &Firing, schedule: Uuid, reason: String) -> Self {
        Self {
            schedule_id: schedule,
            expected: firing.expected,
            next_fire_at: firing.next,
            outcome: FireOutcome::Pause { reason },
        }
    }
}
