use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Where a workflow is in its life.
///
/// `pending` → `running` → `completed` | `failed` | `cancelled`; `failed` → `running` through
/// retry; `pending` → `cancelled` too. A failed workflow is finished: it can be retried or
/// deleted, not cancelled (there is nothing left to stop).
///
/// A workflow with a concurrency key is `queued` when it is started (or retried) while its
/// key's limit of workflows already run: started, waiting for a slot (`pending` → `queued` →
/// `running`, `failed` → `queued` on retry, `queued` → `cancelled`). Its tasks wait `pending`
/// until it is admitted (see `concurrency.rs`).
///
/// A running workflow is `paused` when an `llm` call did not fit its budget (see
/// `budget.rs`): its tasks in flight finish, no call starts until it is resumed (`paused` →
/// `running`), and it can still be cancelled or fail. A store keeps it as `running` with the
/// pause beside it ([`WorkflowStatus::stored`]), so every step fenced on a running workflow
/// applies to a paused one alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    Pending,
    Queued,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

/// Where a task is in its life.
///
/// `pending` (not its turn: a dependency is unfinished) → `queued` (its turn, waiting for a
/// worker or a retry time) → `running` → `completed` | `skipped` (its `when` was false, or every
/// dependency was skipped) | `failed` | `cancelled`; `running` → `queued` on a retryable error
/// or an expired lease; `failed` and `cancelled` → `queued` when their workflow is retried
/// (a task is cancelled when its workflow is, or when another task fails the workflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Queued,
    Running,
    Completed,
    Skipped,
    Failed,
    Cancelled,
}

impl WorkflowStatus {
    pub const ALL: [WorkflowStatus; 7] = [
        Self::Pending,
        Self::Queued,
        Self::Running,
        Self::Paused,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status a store keeps: a paused workflow is kept `running` (with its pause).
    pub const fn stored(self) -> &'static str {
        match self {
            Self::Paused => "running",
            other => other.as_str(),
        }
    }

    /// The status of a workflow kept as `self`, paused or not.
    pub const fn with_pause(self, paused: bool) -> Self {
        match self {
            Self::Running if paused => Self::Paused,
            other => other,
        }
    }

    /// Completed, failed and cancelled workflows do nothing more unless retried.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub const fn can_become(self, next: Self) -> bool {
        use WorkflowStatus::*;
        matches!(
            (self, next),
            (Pending, Running)
                | (Pending, Queued)
                | (Pending, Cancelled)
                | (Queued, Running)
                | (Queued, Cancelled)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, Cancelled)
                | (Running, Paused)
                | (Paused, Running)
                | (Paused, Failed)
                | (Paused, Cancelled)
                | (Failed, Running)
                | (Failed, Queued)
        )
    }

    /// The next status, or [`DomainError::IllegalTransition`].
    pub fn transition(self, next: Self) -> Result<Self, DomainError> {
        if self.can_become(next) {
            Ok(next)
        } else {
            Err(DomainError::IllegalTransition {
                entity: "workflow",
                from: self.as_str(),
                to: next.as_str(),
            })
        }
    }
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 7] = [
        Self::Pending,
        Self::Queued,
        Self::Running,
        Self::Completed,
        Self::Skipped,
        Self::Failed,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Skipped | Self::Failed | Self::Cancelled
        )
    }

    /// Done for its dependents: they treat a skipped dependency as done, with a null output.
    pub const fn is_done(self) -> bool {
        matches!(self, Self::Completed | Self::Skipped)
    }

    /// The statuses a task can be cancelled from.
    pub const UNFINISHED: [TaskStatus; 3] = [Self::Pending, Self::Queued, Self::Running];

    pub const fn can_become(self, next: Self) -> bool {
        use TaskStatus::*;
        matches!(
            (self, next),
            (Pending, Queued)
                | (Pending, Cancelled)
                | (Queued, Running)
                | (Queued, Cancelled)
                | (Running, Completed)
                | (Running, Skipped)
                | (Running, Failed)
                | (Running, Queued)
                | (Running, Cancelled)
                | (Failed, Queued)
                | (Cancelled, Queued)
        )
    }

    /// The next status, or [`DomainError::IllegalTransition`].
    pub fn transition(self, next: Self) -> Result<Self, DomainError> {
        if self.can_become(next) {
            Ok(next)
        } else {
            Err(DomainError::IllegalTransition {
                entity: "task",
                from: self.as_str(),
                to: next.as_str(),
            })
        }
    }
}

macro_rules! text_enum {
    ($ty:ident, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<_> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        DomainError::invalid(
                            "status",
                            format!(
                                "unknown {} status {s:?}; expected one of {}",
                                $what,
                                names.join(", ")
                            ),
                        )
                    })
            }
        }
    };
}

text_enum!(WorkflowStatus, "workflow");
text_enum!(TaskStatus, "task");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_lifecycle() {
        use WorkflowStatus::*;
        assert_eq!(Pending.transition(Running), Ok(Running));
        assert_eq!(Running.transition(Completed), Ok(Completed));
        assert_eq!(Failed.transition(Running), Ok(Running));
        assert!(Completed.transition(Running).is_err());
        assert!(Running.transition(Pending).is_err());
        assert!(Cancelled.transition(Running).is_err());
        assert!(
            Failed.transition(Cancelled).is_err(),
            "retry or delete instead"
        );
        assert!(Completed.is_terminal() && Failed.is_terminal() && !Running.is_terminal());
    }

    #[test]
    fn a_queued_workflow_waits_for_a_slot() {
        use WorkflowStatus::*;
        assert!(Pending.can_become(Queued), "a start beyond the limit");
        assert!(Failed.can_become(Queued), "a retry beyond the limit");
        assert!(Queued.can_become(Running), "admitted");
        assert!(Queued.can_become(Cancelled));
        assert!(!Queued.is_terminal());
        for (from, to) in [
            (Queued, Pending),
            (Queued, Completed),
            (Queued, Failed),
            (Running, Queued),
            (Completed, Queued),
            (Cancelled, Queued),
        ] {
            assert!(from.transition(to).is_err(), "{from} → {to}");
        }
    }

    #[test]
    fn task_lifecycle() {
        use TaskStatus::*;
        assert!(Pending.can_become(Queued));
        assert!(Queued.can_become(Running));
        assert!(Running.can_become(Queued), "retry or expired lease");
        assert!(Failed.can_become(Queued), "workflow retry");
        assert!(
            !Completed.can_become(Queued),
            "completed tasks never run again"
        );
        assert!(!Pending.can_become(Running));
        let err = Completed.transition(Running).unwrap_err();
        assert_eq!(
            err.to_string(),
            "task is completed and cannot become running"
        );
    }

    #[test]
    fn parse_round_trips_and_names_the_choices() {
        for s in WorkflowStatus::ALL {
            assert_eq!(s.as_str().parse::<WorkflowStatus>(), Ok(s));
        }
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(s));
        }
        let err = "done".parse::<WorkflowStatus>().unwrap_err().to_string();
        assert!(err.contains("pending, queued, running"), "{err}");
    }
}
