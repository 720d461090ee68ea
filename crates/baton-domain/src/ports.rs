//! The ports: what Baton needs from the outside world, as traits adapters implement.
//!
//! Every method documents the [`StoreError`] variant an adapter returns for each expected failure;
//! anything else is `Unknown` (or `Unavailable` when the backend cannot be reached).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

pub use crate::ports_auth::{IdempotencyStore, UserStore};
use crate::{
    Claim, Completed, Document, DomainError, Event, Failed, FetchRequest, FetchResponse,
    LlmCompletion, LlmRequest, LlmStream, NewDocument, NewTask, NewWorkflow, StepResult, Task,
    TaskError, TaskId, TaskPatch, TaskStatus, UserId, Workflow, WorkflowId, WorkflowPatch,
    WorkflowStatus,
};

/// Whose resources a call may see and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything (administrators, and the local admin when authentication is off).
    All,
    /// Only what this user owns; anything else is reported as not found.
    Owner(UserId),
}

impl Scope {
    pub fn allows(&self, owner: UserId) -> bool {
        match self {
            Self::All => true,
            Self::Owner(id) => *id == owner,
        }
    }

    /// The owner filter, `None` meaning no filter.
    pub fn owner(&self) -> Option<UserId> {
        match self {
            Self::All => None,
            Self::Owner(id) => Some(*id),
        }
    }
}

/// A page size between 1 and 100 (default 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    pub const MAX: u32 = 100;

    pub fn new(limit: u32) -> Result<Self, DomainError> {
        if (1..=Self::MAX).contains(&limit) {
            Ok(Self(limit))
        } else {
            Err(DomainError::invalid("limit", "must be between 1 and 100"))
        }
    }

    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(20)
    }
}

/// Keyset pagination, newest first: at most `limit` items older than `after` (an item id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: PageLimit,
    pub after: Option<Uuid>,
}

/// One page of a list; `next` is the id to continue after, when more items may follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkflowFilter {
    pub status: Option<WorkflowStatus>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub workflow_id: Option<WorkflowId>,
    pub status: Option<TaskStatus>,
}

/// What an adapter reports when a store operation fails.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist or is outside the caller's [`Scope`].
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The resource exists but its state forbids the change (e.g. editing a started workflow).
    #[error("{0}")]
    Conflict(String),
    /// The caller's expected version is not the current one.
    #[error("version {expected} is not the current version {current}")]
    VersionMismatch { expected: i32, current: i32 },
    /// The change breaks a rule only the store can check (e.g. a task key already used).
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The backend cannot be reached or did not answer in time.
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else; the cause is for the logs, never for clients.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Persistence of workflows and their tasks.
///
/// Every method takes the caller's [`Scope`]: resources outside it behave as if they did not
/// exist. Methods that change a resource take `expected_version`; when it is `Some` and differs,
/// they return [`StoreError::VersionMismatch`] and change nothing. Each method is atomic.
#[async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    /// Stores a workflow and its tasks in one transaction and returns it as stored; with
    /// `start`, it is started in that same transaction.
    async fn create_workflow(
        &self,
        workflow: NewWorkflow,
        start: bool,
    ) -> Result<Workflow, StoreError>;

    /// Starts a pending workflow: its first task is queued. `Conflict` unless pending, or when it
    /// has no tasks.
    async fn start_workflow(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError>;

    /// Cancels a pending or running workflow and its unfinished tasks; a running task's result
    /// will be refused. `Conflict` when it has finished.
    async fn cancel_workflow(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError>;

    /// Resumes a failed workflow from its failed task, with a fresh attempt budget; completed
    /// tasks are not run again. `Conflict` unless failed.
    async fn retry_workflow(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError>;

    /// One workflow with its tasks. `NotFound("workflow")` when absent.
    async fn get_workflow(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError>;

    /// Workflows newest first, each with its tasks, in a constant number of queries.
    async fn list_workflows(
        &self,
        scope: Scope,
        filter: WorkflowFilter,
        page: PageRequest,
    ) -> Result<Page<Workflow>, StoreError>;

    /// Renames or changes the input of a pending workflow. `Conflict` when it is not pending.
    async fn update_workflow(
        &self,
        scope: Scope,
        id: WorkflowId,
        patch: WorkflowPatch,
        expected_version: Option<i32>,
    ) -> Result<Workflow, StoreError>;

    /// Deletes a workflow with its tasks. `Conflict` while it is running.
    async fn delete_workflow(
        &self,
        scope: Scope,
        id: WorkflowId,
        expected_version: Option<i32>,
    ) -> Result<(), StoreError>;

    /// Tasks newest first.
    async fn list_tasks(
        &self,
        scope: Scope,
        filter: TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>, StoreError>;

    /// One task. `NotFound("task")` when absent.
    async fn get_task(&self, scope: Scope, id: TaskId) -> Result<Task, StoreError>;

    /// Adds a task to a pending workflow at `position` (0-based; the end when `None`), shifting
    /// later tasks. `NotFound("workflow")`, `Conflict` when the workflow is not pending,
    /// `Invalid` for a key already used in the workflow or a position past the end.
    async fn add_task(
        &self,
        scope: Scope,
        workflow_id: WorkflowId,
        position: Option<i32>,
        task: NewTask,
    ) -> Result<Task, StoreError>;

    /// Changes a task of a pending workflow (moving it when the patch has a position).
    async fn update_task(
        &self,
        scope: Scope,
        id: TaskId,
        patch: TaskPatch,
        expected_version: Option<i32>,
    ) -> Result<Task, StoreError>;

    /// Removes a task of a pending workflow, closing the gap in positions.
    async fn delete_task(
        &self,
        scope: Scope,
        id: TaskId,
        expected_version: Option<i32>,
    ) -> Result<(), StoreError>;

    /// Whether the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The executor's side of the store: claiming tasks under a lease and recording their results.
///
/// Every write about a claimed task is fenced by its lease token ([`Claim::token`]): when the
/// lease was lost (expired and taken over, or the workflow was cancelled) the write changes
/// nothing and the method answers `Ok(None)` (or `false`).
#[async_trait]
pub trait TaskQueue: Send + Sync + 'static {
    /// Claims up to `limit` queued tasks whose time has come, oldest first, setting them
    /// `running` with a new attempt and a lease of `lease`.
    async fn claim(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError>;

    /// The tasks before `position` in a workflow, for templates.
    async fn steps_before(
        &self,
        workflow_id: WorkflowId,
        position: i32,
    ) -> Result<Vec<StepResult>, StoreError>;

    /// Extends a lease. `false` when it was lost or the task was cancelled: stop working on it.
    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<bool, StoreError>;

    /// Completes a claimed task in one transaction with its events, its document (for `store`),
    /// and the queueing of the next task — claimed right away under `continue_lease` when given —
    /// or the completion of the workflow (then, with `continue_lease`, another queued task is
    /// claimed so the worker carries on without a separate claim).
    async fn complete(
        &self,
        claim: &Claim,
        resolved_input: &Value,
        output: Value,
        document: Option<NewDocument>,
        continue_lease: Option<Duration>,
    ) -> Result<Option<Completed>, StoreError>;

    /// Records a failed attempt: queued again after `retry_in`, or (when `None`) failed for
    /// good with its workflow. With `only_if_expired`, only while the lease has expired (the
    /// reaper's case).
    async fn fail(
        &self,
        claim: &Claim,
        resolved_input: Option<&Value>,
        error: &TaskError,
        retry_in: Option<Duration>,
        only_if_expired: bool,
    ) -> Result<Option<Failed>, StoreError>;

    /// Appends a `task.delta` event (streamed text) while the claim holds its lease; `false`
    /// when it no longer does.
    async fn append_delta(&self, claim: &Claim, text: &str) -> Result<bool, StoreError>;

    /// Hands a claimed task back without counting the attempt (the worker is shutting down):
    /// queued again at once. `false` when the lease was already lost.
    async fn release(&self, claim: &Claim) -> Result<bool, StoreError>;

    /// Running tasks whose lease has expired (their worker is gone), at most `limit`.
    async fn expired(&self, limit: u32) -> Result<Vec<Claim>, StoreError>;
}

/// The documents `store` tasks wrote.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// Documents newest first, optionally of one collection.
    async fn list_documents(
        &self,
        scope: Scope,
        collection: Option<String>,
        page: PageRequest,
    ) -> Result<Page<Document>, StoreError>;

    /// One document. `NotFound("document")` when absent.
    async fn get_document(&self, scope: Scope, id: Uuid) -> Result<Document, StoreError>;
}

/// The recorded events of workflows' runs.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Events of a workflow with an id above `after`, oldest first, at most `limit`.
    async fn events_after(
        &self,
        workflow_id: WorkflowId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;

    /// The id of the workflow's latest event (0 when none).
    async fn last_event_id(&self, workflow_id: WorkflowId) -> Result<i64, StoreError>;
}

/// Calls a language model.
#[async_trait]
pub trait LlmClient: Send + Sync + 'static {
    /// Streams a completion. An `Err` before the stream (or inside it) says whether another
    /// attempt may succeed (`retryable`, with the provider's `retry_after` when it gave one).
    async fn stream(&self, request: LlmRequest) -> Result<LlmStream, TaskError>;

    /// A whole completion at once.
    async fn complete(&self, request: LlmRequest) -> Result<LlmCompletion, TaskError>;
}

/// Makes the HTTP calls of fetch tasks.
#[async_trait]
pub trait HttpFetcher: Send + Sync + 'static {
    /// Any answer, whatever its status, is `Ok`; `Err` means no answer (refused, timed out,
    /// invalid request): its `retryable` says whether trying again may help.
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, TaskError>;
}
