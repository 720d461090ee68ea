//! The events of a run (DESIGN.md §4): one enum with its payloads, serialised here and nowhere
//! else. Stores persist a [`NewEvent`] as `(type, data)`; clients receive exactly that.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{SignalId, TaskId, WorkflowId};

/// What happened, with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A start (or retry) parked the workflow: `limit` workflows of its concurrency `key` were
    /// running. `workflow.started` follows when it is admitted.
    WorkflowQueued {
        key: String,
        limit: u32,
    },
    /// The workflow started; `retry` when it resumed after failing.
    WorkflowStarted {
        retry: bool,
    },
    TaskStarted {
        task_id: TaskId,
        attempt: i32,
        worker: String,
    },
    /// Streamed text of an attempt.
    TaskDelta {
        task_id: TaskId,
        attempt: i32,
        text: String,
    },
    /// The text streamed so far for the task is void: an earlier attempt's (a retry), or an
    /// earlier call's within this attempt (a structured answer asked again, the next model of a
    /// list). Clients discard the task's text before this event; `attempt`'s deltas follow.
    TaskRewind {
        task_id: TaskId,
        attempt: i32,
    },
    /// An attempt failed and another follows. `retry_at` is the database's time of the next
    /// attempt: the store fills it in when it applies the retry (see [`NewEvent::retry_at`]).
    TaskRetrying {
        task_id: TaskId,
        attempt: i32,
        error: Value,
        retry_at: Option<DateTime<Utc>>,
    },
    TaskCompleted {
        task_id: TaskId,
        output: Value,
    },
    TaskFailed {
        task_id: TaskId,
        error: Value,
    },
    /// The task fanned out: its `elements` run, and it joins their outputs when all are done.
    TaskFannedOut {
        task_id: TaskId,
        elements: i32,
    },
    /// The `workflow` task started its child workflow and waits for it.
    TaskChildStarted {
        task_id: TaskId,
        child_workflow_id: WorkflowId,
    },
    /// A `sleep` or `wait` task waits, holding no worker: until `until` (a sleep, or a wait's
    /// time-out), for the signal `signal` (a wait), or both. Appended when it starts waiting.
    TaskWaiting {
        task_id: TaskId,
        signal: Option<String>,
        until: Option<DateTime<Utc>>,
    },
    /// An `llm` call of the task did not fit the workflow's budget: not made; the task waits
    /// and the workflow is paused. `detail`: `{budget, spent, reserved, needed}`.
    BudgetExceeded {
        task_id: TaskId,
        attempt: i32,
        detail: Value,
    },
    /// A paused workflow was resumed: its tasks waiting for the budget are queued again.
    WorkflowResumed,
    /// A signal was sent to the workflow (kept until a `wait` task for `name` consumes it).
    SignalReceived {
        signal_id: SignalId,
        name: String,
    },
    /// The task did not run: its `when` was false, or every dependency was skipped.
    TaskSkipped {
        task_id: TaskId,
        reason: String,
    },
    /// Every task is done. Appended by the store when the last unfinished task of the workflow
    /// is (see [`WorkflowOutcome::TaskDone`](crate::WorkflowOutcome::TaskDone)), with the
    /// output of the workflow's output task.
    WorkflowCompleted {
        output: Value,
    },
    WorkflowFailed {
        error: Value,
    },
    WorkflowCancelled,
}

/// The event types after which a workflow's stream ends.
pub const TERMINAL_EVENT_TYPES: [&str; 3] = [
    "workflow.completed",
    "workflow.failed",
    "workflow.cancelled",
];

impl EventKind {
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::WorkflowQueued { .. } => "workflow.queued",
            Self::WorkflowStarted { .. } => "workflow.started",
            Self::TaskStarted { .. } => "task.started",
            Self::TaskDelta { .. } => "task.delta",
            Self::TaskRewind { .. } => "task.rewind",
            Self::TaskRetrying { .. } => "task.retrying",
            Self::TaskCompleted { .. } => "task.completed",
            Self::TaskFailed { .. } => "task.failed",
            Self::TaskSkipped { .. } => "task.skipped",
            Self::TaskFannedOut { .. } => "task.fanned_out",
            Self::TaskChildStarted { .. } => "task.child_started",
            Self::TaskWaiting { .. } => "task.waiting",
            Self::BudgetExceeded { .. } => "budget.exceeded",
            Self::WorkflowResumed => "workflow.resumed",
            Self::SignalReceived { .. } => "signal.received",
            Self::WorkflowCompleted { .. } => "workflow.completed",
            Self::WorkflowFailed { .. } => "workflow.failed",
            Self::WorkflowCancelled => "workflow.cancelled",
        }
    }

    /// The payload clients receive as the event's `data`.
    pub fn data(&self) -> Value {
        match self {
            Self::WorkflowStarted { retry: false }
            | Self::WorkflowCancelled
            | Self::WorkflowResumed => json!({}),
            Self::BudgetExceeded {
                task_id,
                attempt,
                detail,
            } => {
                let mut data = json!({"task_id": task_id, "attempt": attempt});
                if let (Some(data), Some(detail)) = (data.as_object_mut(), detail.as_object()) {
                    data.extend(detail.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                data
            }
            Self::WorkflowStarted { retry: true } => json!({"retry": true}),
            Self::WorkflowQueued { key, limit } => json!({"key": key, "limit": limit}),
            Self::TaskStarted {
                task_id,
                attempt,
                worker,
            } => json!({"task_id": task_id, "attempt": attempt, "worker": worker}),
            Self::TaskDelta {
                task_id,
                attempt,
                text,
            } => json!({"task_id": task_id, "attempt": attempt, "text": text}),
            Self::TaskRewind { task_id, attempt } => {
                json!({"task_id": task_id, "attempt": attempt})
            }
            Self::TaskRetrying {
                task_id,
                attempt,
                error,
                retry_at,
            } => {
                json!({"task_id": task_id, "attempt": attempt, "error": error, "retry_at": retry_at})
            }
            Self::TaskCompleted { task_id, output } => {
                json!({"task_id": task_id, "output": output})
            }
            Self::TaskFailed { task_id, error } => json!({"task_id": task_id, "error": error}),
            Self::TaskSkipped { task_id, reason } => {
                json!({"task_id": task_id, "reason": reason})
            }
            Self::TaskFannedOut { task_id, elements } => {
                json!({"task_id": task_id, "elements": elements})
            }
            Self::TaskChildStarted {
                task_id,
                child_workflow_id,
            } => json!({"task_id": task_id, "child_workflow_id": child_workflow_id}),
            Self::TaskWaiting {
                task_id,
                signal,
                until,
            } => json!({"task_id": task_id, "signal": signal, "until": until}),
            Self::SignalReceived { signal_id, name } => {
                json!({"signal_id": signal_id, "name": name})
            }
            Self::WorkflowCompleted { output } => json!({"output": output}),
            Self::WorkflowFailed { error } => json!({"error": error}),
        }
    }

    /// The task and attempt the event is about, for the event row's columns.
    pub fn task(&self) -> Option<(TaskId, Option<i32>)> {
        match self {
            Self::TaskStarted {
                task_id, attempt, ..
            }
            | Self::TaskDelta {
                task_id, attempt, ..
            }
            | Self::TaskRewind { task_id, attempt }
            | Self::BudgetExceeded {
                task_id, attempt, ..
            }
            | Self::TaskRetrying {
                task_id, attempt, ..
            } => Some((*task_id, Some(*attempt))),
            Self::TaskCompleted { task_id, .. }
            | Self::TaskFailed { task_id, .. }
            | Self::TaskSkipped { task_id, .. }
            | Self::TaskFannedOut { task_id, .. }
            | Self::TaskChildStarted { task_id, .. }
            | Self::TaskWaiting { task_id, .. } => Some((*task_id, None)),
            _ => None,
        }
    }

    pub fn is_terminal(&self) -> bool {
        TERMINAL_EVENT_TYPES.contains(&self.event_type())
    }
}

/// An event a decided change appends, in the change's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub workflow_id: WorkflowId,
    /// The attempt of the task the event is about, when it is not in the payload.
    pub attempt: Option<i32>,
    pub kind: EventKind,
    /// When the task is an element of a fan-out: its index, added to the payload as `index`.
    pub element_index: Option<i32>,
}

impl NewEvent {
    pub fn new(workflow_id: WorkflowId, kind: EventKind) -> Self {
        Self {
            workflow_id,
            attempt: None,
            kind,
            element_index: None,
        }
    }

    /// The same event, about the element `index` of a fan-out when `index` is given.
    pub fn of_element(mut self, index: Option<i32>) -> Self {
        self.element_index = index;
        self
    }

    /// About an attempt of a task (completed and failed events name the attempt in the row).
    pub fn of_attempt(workflow_id: WorkflowId, attempt: i32, kind: EventKind) -> Self {
        Self {
            workflow_id,
            attempt: Some(attempt),
            kind,
            element_index: None,
        }
    }

    pub fn event_type(&self) -> &'static str {
        self.kind.event_type()
    }

    pub fn task_id(&self) -> Option<TaskId> {
        self.kind.task().map(|(id, _)| id)
    }

    pub fn row_attempt(&self) -> Option<i32> {
        self.kind
            .task()
            .and_then(|(_, attempt)| attempt)
            .or(self.attempt)
    }

    pub fn data(&self) -> Value {
        let mut data = self.kind.data();
        if let (Some(index), Value::Object(map)) = (self.element_index, &mut data) {
            map.insert("index".to_owned(), Value::from(index));
        }
        data
    }

    /// The same event with the database's retry time filled in (a `task.retrying` event).
    pub fn retry_at(mut self, at: DateTime<Utc>) -> Self {
        if let EventKind::TaskRetrying { retry_at, .. } = &mut self.kind {
            *retry_at = Some(at);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_the_wire_format() {
        let task_id = TaskId::generate();
        let workflow_id = WorkflowId::generate();
        let started = NewEvent::new(
            workflow_id,
            EventKind::TaskStarted {
                task_id,
                attempt: 2,
                worker: "w".into(),
            },
        );
        assert_eq!(started.event_type(), "task.started");
        assert_eq!(
            started.data(),
            json!({"task_id": task_id, "attempt": 2, "worker": "w"})
        );
        assert_eq!(started.row_attempt(), Some(2));
        assert_eq!(
            EventKind::WorkflowStarted { retry: true }.data(),
            json!({"retry": true})
        );
        assert!(EventKind::WorkflowCancelled.is_terminal());
        assert!(!EventKind::WorkflowStarted { retry: false }.is_terminal());
        let queued = EventKind::WorkflowQueued {
            key: "acme".into(),
            limit: 2,
        };
        assert_eq!(queued.event_type(), "workflow.queued");
        assert_eq!(queued.data(), json!({"key": "acme", "limit": 2}));
        assert!(!queued.is_terminal());
    }

    #[test]
    fn the_store_fills_the_retry_time() {
        let at = Utc::now();
        let event = NewEvent::new(
            WorkflowId::generate(),
            EventKind::TaskRetrying {
                task_id: TaskId::generate(),
                attempt: 1,
                error: json!({"kind": "http"}),
                retry_at: None,
            },
        )
        .retry_at(at);
        assert_eq!(event.data()["retry_at"], json!(at));
    }
}
