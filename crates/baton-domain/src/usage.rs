//! The usage ledger: one line per provider call (or answer served from the cache), what it
//! cost by the configured prices, and the totals the API reports.

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

use crate::{TaskId, UserId, WorkflowId};

/// One provider call of an `llm` task, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmCall {
    pub id: Uuid,
    pub owner_id: UserId,
    pub workflow_id: WorkflowId,
    pub task_id: TaskId,
    pub attempt: i32,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The provider sent no counts: these are estimates (about four characters a token).
    pub estimated: bool,
    pub latency_ms: u64,
    /// Until the first streamed token, when one came.
    pub first_token_ms: Option<u64>,
    pub finish_reason: Option<String>,
    /// By the configured prices; `None` when the model has none.
    pub cost_usd: Option<f64>,
    /// Served from the response cache: no provider call was made.
    pub cached: bool,
    /// Why the call failed, when it did.
    pub error: Option<String>,
}

/// The ledger's lines of one (task, model), summed by a store.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub task_id: Option<TaskId>,
    pub model: String,
    pub calls: u64,
    pub cached_calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    /// Lines without a price.
    pub unpriced_calls: u64,
    /// Lines whose tokens were estimated.
    pub estimated_calls: u64,
}

/// Totals of some calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageTotals {
    pub calls: u64,
    pub cached_calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// The sum of the priced calls' costs.
    pub cost_usd: f64,
    /// Calls whose model has no configured price (their cost is not in `cost_usd`).
    pub unpriced_calls: u64,
    pub estimated_calls: u64,
}

impl UsageTotals {
    fn add(&mut self, row: &UsageRow) {
        self.calls += row.calls;
        self.cached_calls += row.cached_calls;
        self.prompt_tokens += row.prompt_tokens;
        self.completion_tokens += row.completion_tokens;
        self.total_tokens += row.prompt_tokens + row.completion_tokens;
        self.cost_usd += row.cost_usd;
        self.unpriced_calls += row.unpriced_calls;
        self.estimated_calls += row.estimated_calls;
    }
}

/// Totals overall, per model and (for a workflow) per task.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageReport {
    pub total: UsageTotals,
    pub by_model: BTreeMap<String, UsageTotals>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_task: BTreeMap<String, UsageTotals>,
}

impl UsageReport {
    pub fn from_rows(rows: &[UsageRow]) -> Self {
        let mut report = Self::default();
        for row in rows {
            report.total.add(row);
            report
                .by_model
                .entry(row.model.clone())
                .or_default()
                .add(row);
            if let Some(task) = row.task_id {
                report.by_task.entry(task.to_string()).or_default().add(row);
            }
        }
        report
    }
}

/// What a model costs, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Price {
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.input_per_mtok
            + completion_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// Tokens of a text when the provider counts none: about four characters a token.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_add_up_per_model_and_task() {
        let task = TaskId::generate();
        let row = |model: &str, task_id, calls, cost| UsageRow {
            task_id,
            model: model.into(),
            calls,
            cached_calls: 0,
            prompt_tokens: 10 * calls,
            completion_tokens: 5 * calls,
            cost_usd: cost,
            unpriced_calls: 0,
            estimated_calls: 0,
        };
        let report =
            UsageReport::from_rows(&[row("a", Some(task), 2, 0.5), row("b", Some(task), 1, 0.25)]);
        assert_eq!(report.total.calls, 3);
        assert_eq!(report.total.total_tokens, 45);
        assert_eq!(report.by_model["a"].prompt_tokens, 20);
        assert_eq!(report.by_task[&task.to_string()].cost_usd, 0.75);
    }

    #[test]
    fn prices_are_per_million_tokens() {
        let price = Price {
            input_per_mtok: 1.0,
            output_per_mtok: 2.0,
        };
        assert!((price.cost(1_000_000, 500_000) - 2.0).abs() < 1e-9);
        assert_eq!(estimate_tokens("abcdefgh"), 2);
        assert_eq!(estimate_tokens(""), 1);
    }
}
