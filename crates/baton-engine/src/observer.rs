//! What the executor reports as it runs tasks, for metrics: an observer the embedding
//! application gives the runtime ([`RuntimeBuilder::observer`](crate::RuntimeBuilder)). Every
//! method has a default that does nothing; calls are made on the worker's task and must not
//! block.

use std::time::Duration;

use baton_domain::TaskType;
use serde_json::Value;

/// How a run of a task (one claim) ended, as applied to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd {
    Completed,
    /// Failed and queued again for another attempt.
    Retried,
    /// Failed for good.
    Failed,
    /// Its `when` was false, or its dependencies were skipped.
    Skipped,
    /// Parked: a sleep or wait, a fan-out waiting for its elements, a child workflow started.
    Parked,
}

impl TaskEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Retried => "retried",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Parked => "parked",
        }
    }
}

/// What an llm task used, from its output.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmUsage {
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// In US dollars, when the model has a price (`BATON_LLM_PRICES`), as the ledger counts it.
    pub cost_usd: Option<f64>,
}

impl LlmUsage {
    /// The usage an llm task's output reports (`model`, `usage.prompt_tokens`,
    /// `usage.completion_tokens`; the executor prices it); `None` without usage.
    pub fn from_output(output: &Value) -> Option<Self> {
        let usage = output.get("usage")?;
        let tokens = |field: &str| usage.get(field).and_then(Value::as_u64).unwrap_or(0);
        Some(Self {
            model: output
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
            prompt_tokens: tokens("prompt_tokens"),
            completion_tokens: tokens("completion_tokens"),
            cost_usd: None,
        })
    }
}

pub trait Observer: Send + Sync + 'static {
    /// A worker began running a claimed task.
    fn task_started(&self, _task_type: TaskType) {}

    /// The run ended as `end` after `took` (from its start to its result being applied).
    fn task_ended(&self, _task_type: TaskType, _end: TaskEnd, _took: Duration) {}

    /// A running task's lease expired (its worker stopped answering) and the reaper ended the
    /// run as `end` (retried, or failed when out of attempts).
    fn lease_expired(&self, _task_type: TaskType, _end: TaskEnd) {}

    /// A completed llm task's usage.
    fn llm_used(&self, _usage: &LlmUsage) {}
}

/// Observes nothing (the default).
pub struct NoObserver;

impl Observer for NoObserver {}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn usage_is_read_from_an_llm_output() {
        let output = json!({"text": "hi", "model": "m", "usage": {"prompt_tokens": 7, "completion_tokens": 3}});
        assert_eq!(
            LlmUsage::from_output(&output),
            Some(LlmUsage {
                model: "m".into(),
                prompt_tokens: 7,
                completion_tokens: 3,
                cost_usd: None
            })
        );
        assert_eq!(LlmUsage::from_output(&json!({"text": "hi"})), None);
    }
}
