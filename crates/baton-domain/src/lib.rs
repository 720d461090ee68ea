#![doc = include_str!("../README.md")]

mod auth;
mod budget;
mod child;
mod concurrency;
mod cron;
mod definition;
mod definition_defaults;
mod edit;
mod engine;
mod error;
mod event;
mod firing;
mod graph;
mod hints;
mod idempotency;
mod ids;
mod input_schema;
mod json;
mod lease;
mod lifecycle;
mod llm;
mod llm_task;
mod pace;
pub mod ports;
mod ports_auth;
mod ports_concurrency;
mod ports_definitions;
mod ports_llm;
mod ports_secrets;
mod queue_stats;
mod retry;
mod schedule;
mod secret;
mod signals;
mod status;
mod step;
mod storable;
mod task;
mod text;
mod usage;
mod wait;
mod workflow;

pub use auth::{
    ApiKey, ApiKeyId, Credentials, Email, KeyHash, KeyName, NewApiKey, NewUser, Password,
    Principal, Role, User,
};
pub use budget::{
    BUDGET_EXCEEDED, Budget, BudgetAsk, BudgetDecision, MAX_BUDGET_TOKENS, MAX_BUDGET_USD, Spend,
};
pub use child::{ChildOutcome, child_tasks};
pub use concurrency::{
    Admission, Concurrency, ConcurrencyKey, KeyState, KeyedStart, MAX_CONCURRENCY_KEY_CHARS,
    MAX_CONCURRENCY_LIMIT, MAX_CONCURRENCY_TEMPLATE_CHARS, Queued, admit,
};
pub use cron::{CronSpec, MAX_CRON_CHARS};
pub use definition::{
    Definition, DefinitionDraft, DefinitionName, DefinitionRef, MAX_DESCRIPTION_CHARS,
    NewDefinition,
};
pub use definition_defaults::{ConcurrencyDefault, DefinitionDefaults};
pub use edit::{Change, Edit};
pub use engine::{
    Claim, Dependent, Document, ElementResult, Event, FetchRequest, FetchResponse, NewDocument,
    StepResult, TaskError,
};
pub use error::{DomainError, FieldError};
pub use event::{EventKind, NewEvent, TERMINAL_EVENT_TYPES};
pub use firing::{FireOutcome, Firing, ScheduleFire};
pub use graph::{Graph, GraphProblem, GraphTask, Wiring};
pub use hints::{parse_reset_duration, parse_retry_after};
pub use idempotency::{Begun, IDEMPOTENCY_TTL, IN_FLIGHT_TIMEOUT, IdempotencyKey, StoredResponse};
pub use ids::{SignalId, TaskId, UserId, WorkflowId};
pub use input_schema::{check_input_against, check_input_schema};
pub use json::{MAX_JSON_DEPTH, check_json};
pub use lease::LeaseToken;
pub use lifecycle::{Effect, Transition};
pub use llm::{ChatMessage, LlmCompletion, LlmEvent, LlmRequest, LlmStream, MAX_MODELS, Usage};
pub use llm_task::{DEFAULT_CACHE_TTL, DEFAULT_SCHEMA_ATTEMPTS, LlmTask, OutputSchema, falls_back};
pub use pace::{ModelLimit, ModelPace, Pace};
pub use queue_stats::QueueStats;
pub use retry::{RetryDraft, RetryPolicy};
pub use schedule::{
    MISFIRE_GRACE, Misfire, NewSchedule, SHOWN_FIRE_TIMES, Schedule, ScheduleDraft, ScheduleRef,
};
pub use secret::{
    MAX_SECRET_NAME_CHARS, MAX_SECRET_VALUE_BYTES, MIN_SECRET_VALUE_CHARS, NewSecret, SECRET_MASK,
    SealedSecret, SecretInfo, SecretName, SecretValue,
};
pub use status::{TaskStatus, WorkflowStatus};
pub use step::{
    CarryOn, Fence, NewElement, NextClaim, StepApplied, StepCommit, TaskOutcome, WorkflowOutcome,
    retry_delay,
};
pub use storable::{
    MAX_ERROR_MESSAGE_CHARS, MAX_STORED_JSON_BYTES, NUL_REPLACEMENT, replace_nul, storable,
    storable_error, storable_text,
};
pub use task::{
    DEFAULT_TASK_TIMEOUT_MS, MAX_ELEMENTS, MAX_JQ_PROGRAM_CHARS, MAX_TASK_TIMEOUT_MS,
    MAX_WHEN_CHARS, NewTask, Task, TaskDraft, TaskPatch, TaskType,
};
pub use text::{TaskKey, TaskTitle, WorkflowName};
pub use usage::{LlmCall, Price, UsageReport, UsageRow, UsageTotals, estimate_tokens};
pub use wait::{
    MAX_SIGNAL_NAME_CHARS, MAX_WAIT_MS, NewSignal, OnTimeout, ReceivedSignal, SignalName, Sleep,
    Wait, Waiting, sleep_of, wait_of,
};
pub use workflow::{MAX_TASKS_PER_WORKFLOW, NewWorkflow, Workflow, WorkflowPatch};
