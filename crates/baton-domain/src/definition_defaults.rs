//! What a workflow definition fills in for its runs: a default input (under the run's), a
//! retry policy and time limit for tasks that set none, and a concurrency key and limit.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Errors;
use crate::{Concurrency, DomainError, RetryPolicy, TaskDraft, check_json};

/// What a definition fills in: `input` goes under a run's input (the run's keys win, a shallow
/// merge), `retry` and `timeout_ms` apply to tasks that set none of their own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<crate::RetryDraft>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The concurrency key (a template over the input) and limit of every run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyDefault>,
}

/// A definition's concurrency, as written (see [`Concurrency`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyDefault {
    pub key: String,
    pub limit: i64,
}

impl ConcurrencyDefault {
    /// The runs' concurrency, checked (fields `concurrency.key`, `concurrency.limit`).
    pub fn checked(&self) -> Result<Concurrency, DomainError> {
        Concurrency::new(self.key.clone(), self.limit)
    }
}

impl DefinitionDefaults {
    pub(crate) fn check(&self) -> Result<(), DomainError> {
        let mut errors = Errors::default();
        if let Some(input) = &self.input {
            errors.check(check_json("defaults.input", &Value::Object(input.clone())));
        }
        if let Some(retry) = self.retry {
            errors.check(RetryPolicy::from_draft(retry).map_err(|e| e.under("defaults")));
        }
        if let Some(ms) = self.timeout_ms
            && !(1..=crate::MAX_TASK_TIMEOUT_MS).contains(&ms)
        {
            errors.add("defaults.timeout_ms", "must be between 1 and 3600000");
        }
        if let Some(concurrency) = &self.concurrency {
            errors.check(concurrency.checked().map_err(|e| e.under("defaults")));
        }
        errors.finish()
    }

    /// `tasks` with the defaults filled into those that leave a field unset.
    pub(crate) fn apply(&self, tasks: &[TaskDraft]) -> Vec<TaskDraft> {
        tasks
            .iter()
            .cloned()
            .map(|mut task| {
                task.retry = task.retry.or(self.retry);
                task.timeout_ms = task.timeout_ms.or(self.timeout_ms);
                task
            })
            .collect()
    }

    /// The input of a run: `input` (an object, or nothing) over the default input.
    pub(crate) fn merged_input(&self, input: Option<Value>) -> Result<Value, DomainError> {
        let mut merged = self.input.clone().unwrap_or_default();
        match input {
            None | Some(Value::Null) => {}
            Some(Value::Object(given)) => merged.extend(given),
            Some(_) => {
                return Err(DomainError::invalid(
                    "input",
                    "must be a JSON object (it is merged over the definition's default input)",
                ));
            }
        }
        Ok(Value::Object(merged))
    }
}
