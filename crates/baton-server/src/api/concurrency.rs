//! The JSON of a workflow's concurrency key, and of the statuses a workflow can be in.

use crate::api::dto::BudgetSpec;
use baton_domain::{Concurrency, DomainError, NewWorkflow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// At most `limit` of the caller's workflows with the same key run at once; a start beyond
/// that makes the workflow `queued` until a slot frees (oldest queued first).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencySpec {
    /// A template over the workflow's input only (`{{ input.tenant }}`), or plain text;
    /// rendered when the workflow starts, to 1 to 200 characters. Keys are per owner.
    #[schema(min_length = 1, max_length = 1_000)]
    pub key: String,
    /// How many workflows of the key may run at once, 1 to 1000.
    #[schema(minimum = 1, maximum = 1_000)]
    pub limit: i64,
}

/// A workflow's concurrency key and limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConcurrencyView {
    /// The template as written until the workflow starts; the rendered key from then on.
    pub key: String,
    pub limit: u32,
}

impl From<Concurrency> for ConcurrencyView {
    fn from(c: Concurrency) -> Self {
        Self {
            key: c.key,
            limit: c.limit,
        }
    }
}

/// Where a workflow is: `queued` is started but waiting for a slot of its concurrency key.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatusName {
    Pending,
    Queued,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

/// The checked concurrency of a request, if it has one.
pub fn checked(spec: Option<ConcurrencySpec>) -> Result<Option<Concurrency>, DomainError> {
    spec.map(|s| Concurrency::new(s.key, s.limit)).transpose()
}

impl super::dto::CreateWorkflow {
    /// The workflow the body describes, owned by `owner`, every problem reported at once.
    pub fn into_new(self, owner: baton_domain::UserId) -> Result<NewWorkflow, DomainError> {
        with_budget(
            with_concurrency(
                NewWorkflow::new(
                    owner,
                    self.name,
                    self.input,
                    self.tasks.into_iter().map(Into::into).collect(),
                ),
                self.concurrency,
            ),
            self.budget,
        )
    }
}

/// `workflow` with `concurrency`, reporting the problems of both at once.
pub fn with_concurrency(
    workflow: Result<NewWorkflow, DomainError>,
    concurrency: Option<ConcurrencySpec>,
) -> Result<NewWorkflow, DomainError> {
    let (workflow, concurrency) = both(workflow, checked(concurrency))?;
    Ok(workflow.with_concurrency(concurrency))
}

/// `workflow` with `budget`, reporting the problems of both at once.
pub fn with_budget(
    workflow: Result<NewWorkflow, DomainError>,
    budget: Option<BudgetSpec>,
) -> Result<NewWorkflow, DomainError> {
    let (workflow, budget) = both(workflow, budget.map(BudgetSpec::checked).transpose())?;
    Ok(workflow.with_budget(budget))
}

/// Both values, or every field problem of either.
fn both<A, B>(a: Result<A, DomainError>, b: Result<B, DomainError>) -> Result<(A, B), DomainError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(DomainError::Invalid(mut first)), Err(DomainError::Invalid(more))) => {
            first.extend(more);
            Err(DomainError::Invalid(first))
        }
        (Err(err), _) | (_, Err(err)) => Err(err),
    }
}
