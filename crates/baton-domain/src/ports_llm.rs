//! The port of what `llm` tasks keep: the usage ledger, the response cache and the shared pace
//! of each model. Re-exported from [`crate::ports`]; every [`WorkflowStore`] is one.
//!
//! [`WorkflowStore`]: crate::ports::WorkflowStore

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ports::{Scope, StoreError};
use crate::{
    BudgetAsk, BudgetDecision, LlmCall, ModelLimit, Pace, TaskId, UsageRow, UserId, WorkflowId,
};

#[async_trait]
pub trait LlmStore: Send + Sync + 'static {
    /// Appends lines to the usage ledger (a line already kept, by id, is left as it is), and
    /// in the same transaction drops the budget reservations of their tasks (the lines settle
    /// them).
    async fn record_calls(&self, calls: &[LlmCall]) -> Result<(), StoreError>;

    /// The ledger of a workflow summed per (task, model). `NotFound("workflow")` when it is
    /// absent or outside `scope`.
    async fn workflow_usage(
        &self,
        scope: Scope,
        workflow: WorkflowId,
    ) -> Result<Vec<UsageRow>, StoreError>;

    /// An owner's ledger from `from` (inclusive) to `to` (exclusive), summed per model.
    async fn owner_usage(
        &self,
        owner: UserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageRow>, StoreError>;

    /// The cached answer under `key`, unless it expired (by the store's clock).
    async fn cached_answer(&self, key: &str) -> Result<Option<Value>, StoreError>;

    /// Keeps `answer` under `key` for `ttl_ms` (replacing what was there).
    async fn cache_answer(
        &self,
        key: &str,
        owner: UserId,
        answer: &Value,
        ttl_ms: u64,
    ) -> Result<(), StoreError>;

    /// Decides (with [`ModelPace::decide`](crate::ModelPace::decide), by the store's clock,
    /// under a lock of the model's row so two instances never both take one slot) whether a
    /// call to `model` estimated at `tokens` may go now, and keeps the new pace when it may.
    async fn pace_call(
        &self,
        model: &str,
        limit: &ModelLimit,
        tokens: u64,
    ) -> Result<Pace, StoreError>;

    /// Holds every call to `model` for `ms` from now (the provider rate-limited it), unless it
    /// is held longer already.
    async fn hold_model(&self, model: &str, ms: u64) -> Result<(), StoreError>;

    /// Decides with [`Budget::decide`](crate::Budget::decide), under a lock of the workflow
    /// (so calls of one workflow decide one at a time), whether a call of `task` asking `ask`
    /// fits its workflow's budget beside its ledger and the other tasks' reservations.
    /// `Unlimited` (nothing kept) without a budget; `Fits` keeps the task's reservation
    /// (replacing any it had); `Exceeded` pauses the workflow with the decision's detail
    /// (unless paused already) and drops the task's reservation.
    async fn reserve_budget(
        &self,
        workflow: WorkflowId,
        task: TaskId,
        ask: BudgetAsk,
    ) -> Result<BudgetDecision, StoreError>;

    /// Makes the `llm` tasks parked by the budget runnable now when their workflow is not
    /// paused (a resume that came between a pause and its task's park); `true` when any was.
    async fn wake_unpaused(&self, workflow: WorkflowId) -> Result<bool, StoreError>;
}
