//! The ports: what Baton needs from the outside world, as traits adapters implement.
//!
//! Every method documents the [`StoreError`] variant an adapter returns for each expected failure;
//! anything else is `Unknown` (or `Unavailable` when the backend cannot be reached).

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

#[allow(unused_imports)] // named by the docs
use crate::EventKind;
pub use crate::ports_auth::{IdempotencyStore, UserStore};
pub use crate::ports_concurrency::ConcurrencyStore;
pub use crate::ports_definitions::{DefinitionStore, ScheduleStore};
pub use crate::ports_llm::LlmStore;
pub use crate::ports_secrets::SecretStore;
pub use crate::signals::{LocalSignals, Signal, Signals, Subscriber};
use crate::{
    ChildOutcome, Claim, Document, DomainError, Edit, ElementResult, Event, FetchRequest,
    FetchResponse, LeaseToken, LlmCompletion, LlmRequest, LlmStream, NewEvent, NewSignal,
    NewWorkflow, QueueStats, ReceivedSignal, StepApplied, StepCommit, StepResult, Task, TaskError,
    TaskId, TaskStatus, Transition, UserId, Workflow, WorkflowId, WorkflowStatus,
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

/// Which documents a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    pub collection: Option<String>,
    /// Only those the tasks of this workflow wrote.
    pub workflow_id: Option<WorkflowId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowFilter {
    pub status: Option<WorkflowStatus>,
    /// Only workflows whose name contains this text, ignoring case (on SQLite, the case of
    /// ASCII letters only).
    pub name: Option<String>,
}

impl WorkflowFilter {
    /// The name filter as a `LIKE` pattern matching it anywhere, its `%`, `_` and `\` escaped
    /// with `\` (say `ESCAPE '\'`).
    pub fn name_pattern(&self) -> Option<String> {
        self.name.as_deref().map(|name| {
            let mut pattern = String::with_capacity(name.len() + 2);
            pattern.push('%');
            for c in name.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        })
    }
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
    /// A decided change was not applied: the resource changed since it was read. Read it
    /// again and decide again.
    #[error("{0} changed while the change was being decided")]
    Stale(&'static str),
    /// The change breaks a rule (from the domain, or a constraint only the store can check).
    #[error(transparent)]
    Invalid(DomainError),
    /// The backend cannot be reached or did not answer in time.
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else; the cause is for the logs, never for clients.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Persistence of workflows and their tasks. Stores decide nothing: the rules are the
/// domain's ([`Workflow::start`], [`Workflow::patch`], …), and a store applies the decided
/// [`Transition`]s and [`Edit`]s atomically, only while the workflow is still as it was read.
///
/// Reads take the caller's [`Scope`]: resources outside it behave as if they did not exist.
/// A workflow store also keeps concurrency keys ([`ConcurrencyStore`]): admission starts
/// workflows as [`WorkflowStore::apply_transition`] does, under the key's lock.
#[async_trait]
pub trait WorkflowStore: ConcurrencyStore + Send + Sync + 'static {
    /// Stores a workflow and its tasks (positions in order) in one transaction, applying
    /// `start` (decided by [`NewWorkflow::start`]) in that same transaction.
    async fn create_workflow(
        &self,
        workflow: &NewWorkflow,
        start: Option<&Transition>,
    ) -> Result<(), StoreError>;

    /// Applies a status change. `Stale` (changing nothing) when the workflow's status is no
    /// longer `transition.from`; `NotFound("workflow")` when it is gone.
    async fn apply_transition(&self, transition: &Transition) -> Result<(), StoreError>;

    /// Applies an edit. `Stale` (changing nothing) when the workflow's version is no longer
    /// `edit.version`; `NotFound("workflow")` when it is gone.
    async fn apply_edit(&self, edit: &Edit) -> Result<(), StoreError>;

    /// Resumes a paused workflow (decided by [`Workflow::unpause`]): its pause cleared and the
    /// `llm` tasks its budget parked (queued, never runnable) runnable now, with a
    /// `workflow.resumed` event, in one transaction. `false` (nothing changed) when it is no
    /// longer paused.
    async fn resume_paused(&self, workflow: WorkflowId) -> Result<bool, StoreError>;

    /// One workflow with its tasks by position. `NotFound("workflow")` when absent.
    async fn get_workflow(&self, scope: Scope, id: WorkflowId) -> Result<Workflow, StoreError>;

    /// Workflows newest first, each with its tasks, in a constant number of queries.
    async fn list_workflows(
        &self,
        scope: Scope,
        filter: WorkflowFilter,
        page: PageRequest,
    ) -> Result<Page<Workflow>, StoreError>;

    /// Tasks newest first.
    async fn list_tasks(
        &self,
        scope: Scope,
        filter: TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>, StoreError>;

    /// One task. `NotFound("task")` when absent.
    async fn get_task(&self, scope: Scope, id: TaskId) -> Result<Task, StoreError>;

    /// Keeps a signal for its workflow, in one transaction: the signal, its `signal.received`
    /// event, and every parked `wait` task of the workflow waiting for its name made runnable
    /// at once. Applied only while the workflow's status is `expected` (decided from it: a
    /// finished workflow takes no signal); `Stale`, changing nothing, when it is not;
    /// `NotFound("workflow")` when the workflow is gone.
    async fn send_signal(
        &self,
        signal: &NewSignal,
        expected: WorkflowStatus,
    ) -> Result<ReceivedSignal, StoreError>;

    /// The workflow's signals, oldest first, consumed ones included (at most 1,000).
    async fn list_signals(
        &self,
        scope: Scope,
        workflow_id: WorkflowId,
    ) -> Result<Vec<ReceivedSignal>, StoreError>;

    /// Whether the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The executor's side of the store: claiming tasks under a lease and applying decided steps.
///
/// Every write about a claimed task is fenced by its lease token ([`Claim::token`]): when the
/// lease was lost (expired and taken over, or the workflow was cancelled) the write changes
/// nothing and the method answers [`StepApplied::Lost`] (or `false`).
#[async_trait]
pub trait TaskQueue: LlmStore + Send + Sync + 'static {
    /// Claims up to `tokens.len()` queued tasks whose time has come by the store's clock,
    /// oldest first: each becomes `running` with its next attempt, a lease of `lease` under
    /// one of `tokens`, and a `task.started` event ([`EventKind::TaskStarted`], the worker
    /// being [`LeaseToken::worker`]). The tokens of one call belong to one worker.
    async fn claim(&self, tokens: &[LeaseToken], lease: Duration)
    -> Result<Vec<Claim>, StoreError>;

    /// The tasks before `position` in a workflow, for templates.
    async fn steps_before(
        &self,
        workflow_id: WorkflowId,
        position: i32,
    ) -> Result<Vec<StepResult>, StoreError>;

    /// How the child workflow `child` stands. `NotFound("workflow")` when absent.
    async fn child_outcome(&self, child: WorkflowId) -> Result<ChildOutcome, StoreError>;

    /// The elements of the fan-out of task `parent`, by index, in one query.
    async fn element_results(&self, parent: TaskId) -> Result<Vec<ElementResult>, StoreError>;

    /// The oldest signal named `name` kept (not consumed) for the workflow, if any.
    async fn next_signal(
        &self,
        workflow_id: WorkflowId,
        name: &str,
    ) -> Result<Option<ReceivedSignal>, StoreError>;

    /// Extends a lease. `false` when it was lost or the task was cancelled: stop working on it.
    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<bool, StoreError>;

    /// Applies a decided step in one transaction (see [`StepCommit`] for what, in which order).
    /// A retry's time is the store's clock plus its delay, and is filled into its
    /// `task.retrying` event. A `task.started` event for `then_claim` is appended as
    /// [`claim`](Self::claim) does.
    async fn apply_step(&self, step: &StepCommit) -> Result<StepApplied, StoreError>;

    /// Applies several decided steps, of any workflows, as [`apply_step`](Self::apply_step)
    /// applies each, answering for each in order. A store commits them together where it can
    /// (one transaction for the batch): each stays fenced by its own token, so a lost lease
    /// answers [`StepApplied::Lost`] for its step alone, and an error that one step raises
    /// leaves the others to be applied without it. This default applies them one by one.
    async fn apply_steps(&self, steps: &[&StepCommit]) -> Vec<Result<StepApplied, StoreError>> {
        let mut applied = Vec::with_capacity(steps.len());
        for step in steps {
            applied.push(self.apply_step(step).await);
        }
        applied
    }

    /// Appends an event about a claimed attempt (streamed text) while the claim holds its
    /// lease; `false` when it no longer does.
    async fn append_held(&self, claim: &Claim, event: &NewEvent) -> Result<bool, StoreError>;

    /// Hands a claimed task back without counting the attempt (the worker is shutting down):
    /// queued again at once. `false` when the lease was already lost.
    async fn release(&self, claim: &Claim) -> Result<bool, StoreError>;

    /// Running tasks whose lease has expired by the store's clock (their worker is gone), at
    /// most `limit`.
    async fn expired(&self, limit: u32) -> Result<Vec<Claim>, StoreError>;

    /// How many tasks are runnable now and since when the oldest is, in one statement over the
    /// index of queued tasks (for metrics).
    async fn queue_stats(&self) -> Result<QueueStats, StoreError>;
}

/// The documents `store` tasks wrote.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// Documents newest first, optionally of one collection.
    async fn list_documents(
        &self,
        scope: Scope,
        filter: DocumentFilter,
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

/// Use cases report the domain's verdicts as the store's error kinds, so one mapping to HTTP
/// covers both.
impl From<DomainError> for StoreError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Conflict(message) => Self::Conflict(message),
            err @ DomainError::IllegalTransition { .. } => Self::Conflict(err.to_string()),
            DomainError::VersionMismatch { expected, current } => {
                Self::VersionMismatch { expected, current }
            }
            err @ DomainError::Invalid(_) => Self::Invalid(err),
        }
    }
}

/// The time, for what Rust stamps itself (token expiry, idempotency windows). Stores use their
/// own clock for what must agree across instances (leases, retry times).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// Calls a language model.
#[async_trait]
pub trait LlmClient: Send + Sync + 'static {
    /// Streams a completion. An `Err` before the stream (or inside it) says whether another
    /// attempt may succeed (`retryable`, with the provider's `retry_after` when it gave one).
    async fn stream(&self, request: LlmRequest) -> Result<LlmStream, TaskError>;

    /// A whole completion at once.
    async fn complete(&self, request: LlmRequest) -> Result<LlmCompletion, TaskError>;

    /// The model a request without one is sent to.
    fn default_model(&self) -> &str;
}

/// Makes the HTTP calls of fetch tasks.
#[async_trait]
pub trait HttpFetcher: Send + Sync + 'static {
    /// Any answer, whatever its status, is `Ok`; `Err` means no answer (refused, timed out,
    /// invalid request): its `retryable` says whether trying again may help.
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, TaskError>;
}
