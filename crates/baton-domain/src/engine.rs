//! What the executor exchanges with the store and with the HTTP client: claims, step results,
//! failures, fetch requests and responses. Data only; the traits are in [`crate::ports`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Task, TaskStatus};

/// A task a worker holds a lease on. `task.lease_owner` is the lease's fencing token: every write
/// about this run of the task is conditioned on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub task: Task,
    pub workflow_name: String,
    pub workflow_input: Value,
}

impl Claim {
    pub fn token(&self) -> &str {
        self.task.lease_owner.as_deref().unwrap_or_default()
    }

    pub fn attempt(&self) -> u32 {
        u32::try_from(self.task.attempt).unwrap_or(0)
    }
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

/// What completing a task led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Completed {
    /// The next task was claimed in the same transaction: run it now.
    Next(Box<Claim>),
    /// The next task is queued for any worker.
    Queued,
    /// That was the last task: the workflow is completed. `next`: a queued task of another
    /// workflow, claimed in the same transaction (when asked to continue) — run it now.
    WorkflowCompleted { next: Option<Box<Claim>> },
}

/// What failing a task led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Queued again for a later attempt.
    Retrying,
    /// Failed for good, and its workflow with it.
    WorkflowFailed,
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
}

impl TaskError {
    pub fn permanent(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retryable: false,
            status: None,
            retry_after: None,
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
        matches!(
            self.event_type.as_str(),
            "workflow.completed" | "workflow.failed" | "workflow.cancelled"
        )
    }
}
