//! What the executor exchanges with the store and with the HTTP client: claims, step results,
//! failures, fetch requests and responses. Data only; the traits are in [`crate::ports`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{LeaseToken, Task, TaskId, TaskStatus};

/// A task a worker holds a lease on, with what running it needs from its workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub task: Task,
    /// The lease's fencing token: every write about this attempt is conditioned on it.
    pub token: LeaseToken,
    pub workflow_name: String,
    pub workflow_input: Value,
    /// The tasks that need this one, as they are when it was claimed.
    pub dependents: Vec<Dependent>,
    /// The task whose output becomes the workflow's (see [`Graph::output_task`](crate::Graph)).
    pub output_task: Option<TaskId>,
    /// For a task of a child workflow: the parent's task that waits for the workflow.
    pub parent_task: Option<TaskId>,
    /// Its workflow's concurrency key, rendered, when it has one.
    pub concurrency_key: Option<String>,
}

impl Claim {
    pub fn attempt(&self) -> u32 {
        u32::try_from(self.task.attempt).unwrap_or(0)
    }
}

/// A task that needs the claimed one, as the claim saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependent {
    pub id: TaskId,
    pub position: i32,
    /// Its attempts so far (a claim makes it `attempt + 1`).
    pub attempt: i32,
    /// How many of its dependencies were unfinished (this one included). Counts only go down
    /// while the claim holds, so at 1 the claimed task is the last it waits for.
    pub waiting_on: i32,
    /// When it is an element of a fan-out: its index.
    pub element_index: Option<i32>,
}

/// An element of a fan-out, as its parent joins it.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementResult {
    pub index: i32,
    pub status: TaskStatus,
    pub output: Option<Value>,
}

/// A finished earlier task of the same workflow, as templates see it (`steps.<key>`, `prev`).
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub position: i32,
    pub key: Option<String>,
    pub status: TaskStatus,
    pub output: Option<Value>,
}

/// A document a `store` task writes, in the transaction that completes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub id: uuid::Uuid,
    pub collection: String,
    pub data: Value,
}

/// A document a `store` task wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: uuid::Uuid,
    pub owner_id: crate::UserId,
    pub collection: String,
    pub workflow_id: crate::WorkflowId,
    pub task_id: crate::TaskId,
    pub data: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Why a task's attempt did not succeed. Serialized into the task's `error`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskError {
    /// `timeout`, `network`, `http`, `template`, `jq`, `invalid_input`, `lease_expired`, …
    pub kind: &'static str,
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// The HTTP status, for errors from an HTTP call.
    pub status: Option<u16>,
    /// The shortest wait the other side asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// Facts about the failure for the step to act on, e.g. the budget figures of a
    /// [`BUDGET_EXCEEDED`](crate::BUDGET_EXCEEDED) call (not part of the stored error).
    pub detail: Option<Value>,
}

impl TaskError {
    pub fn permanent(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retryable: false,
            status: None,
            retry_after: None,
            detail: None,
        }
    }

    pub fn retryable(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            ..Self::permanent(kind, message)
        }
    }

    pub fn to_json(&self, attempt: u32) -> Value {
        let mut value = json!({
            "kind": self.kind,
            "message": self.message,
            "retryable": self.retryable,
            "attempt": attempt,
        });
        if let Some(status) = self.status {
            value["status"] = json!(status);
        }
        if let Some(after) = self.retry_after {
            value["retry_after_ms"] = json!(after.as_millis() as u64);
        }
        value
    }
}

/// An HTTP call a fetch task makes.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    /// JSON bodies are sent as JSON, strings as text.
    pub body: Option<Value>,
    pub timeout: Duration,
    /// Sent as `Idempotency-Key` so the target can deduplicate retries.
    pub idempotency_key: String,
}

/// The answer to a [`FetchRequest`], whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    /// Parsed as JSON when the response says JSON, else the text.
    pub body: Value,
    pub retry_after: Option<Duration>,
}

/// A recorded event of a workflow's run (DESIGN.md §4), as clients receive them.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub workflow_id: crate::WorkflowId,
    pub event_type: String,
    pub data: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Event {
    /// The events after which a workflow's stream ends.
    pub fn is_terminal(&self) -> bool {
        crate::event::TERMINAL_EVENT_TYPES.contains(&self.event_type.as_str())
    }
}
