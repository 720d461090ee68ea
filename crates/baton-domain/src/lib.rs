#![doc = include_str!("../README.md")]

mod auth;
mod engine;
mod error;
mod hints;
mod idempotency;
mod ids;
mod json;
mod llm;
pub mod ports;
mod ports_auth;
mod retry;
mod status;
mod task;
mod text;
mod workflow;

pub use auth::{
    ApiKey, ApiKeyId, Credentials, Email, KeyHash, KeyName, NewApiKey, NewUser, Password,
    Principal, Role, User,
};
pub use engine::{
    Claim, Completed, Document, Event, Failed, FetchRequest, FetchResponse, NewDocument,
    StepResult, TaskError,
};
pub use error::{DomainError, FieldError};
pub use hints::{parse_reset_duration, parse_retry_after};
pub use idempotency::{Begun, IDEMPOTENCY_TTL, IN_FLIGHT_TIMEOUT, IdempotencyKey, StoredResponse};
pub use ids::{TaskId, UserId, WorkflowId};
pub use json::check_json;
pub use llm::{ChatMessage, LlmCompletion, LlmEvent, LlmRequest, LlmStream, Usage};
pub use retry::{RetryDraft, RetryPolicy};
pub use status::{TaskStatus, WorkflowStatus};
pub use task::{
    DEFAULT_TASK_TIMEOUT_MS, MAX_TASK_TIMEOUT_MS, NewTask, Task, TaskDraft, TaskPatch, TaskType,
};
pub use text::{TaskKey, TaskTitle, WorkflowName};
pub use workflow::{MAX_TASKS_PER_WORKFLOW, NewWorkflow, Workflow, WorkflowPatch};
