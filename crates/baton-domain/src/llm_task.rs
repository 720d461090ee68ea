//! An `llm` task's input beyond the chat request: structured output (`output_schema`,
//! `schema_attempts`), the response cache (`cache`), and which failures move to the next model
//! of a `model` list.

use std::time::Duration;

use serde_json::Value;

use crate::error::Errors;
use crate::{DomainError, LlmRequest, TaskError};

/// Calls allowed for one structured answer unless `schema_attempts` says otherwise.
pub const DEFAULT_SCHEMA_ATTEMPTS: u32 = 2;
/// The most calls `schema_attempts` may allow.
pub const MAX_SCHEMA_ATTEMPTS: u32 = 5;
/// How long `cache: true` keeps an answer.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest `cache.ttl_ms`: 30 days.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// At most this many violations are fed back or reported.
const MAX_VIOLATIONS: usize = 10;

/// An `llm` task's resolved input, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmTask {
    pub request: LlmRequest,
    pub output: Option<OutputSchema>,
    /// `None`: every call goes to the provider.
    pub cache_ttl: Option<Duration>,
}

/// What a structured answer must be.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    pub schema: Value,
    /// Calls allowed in all: the first and the re-asks with the violations fed back.
    pub attempts: u32,
}

impl LlmTask {
    /// Reads `output_schema`, `schema_attempts` and `cache` beside the request's fields.
    pub fn from_json(input: &Value) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let request = LlmRequest::from_json(input);
        let field = |name: &str| input.get(name).filter(|v| !v.is_null());
        let schema = match field("output_schema") {
            None => None,
            Some(schema @ Value::Object(_)) => match jsonschema::validator_for(schema) {
                Ok(_) => Some(schema.clone()),
                Err(e) => {
                    errors.add("output_schema", format!("is not a valid JSON Schema: {e}"));
                    None
                }
            },
            Some(_) => {
                errors.add("output_schema", "must be a JSON Schema object");
                None
            }
        };
        let attempts = match field("schema_attempts") {
            None => DEFAULT_SCHEMA_ATTEMPTS,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=u64::from(MAX_SCHEMA_ATTEMPTS)).contains(&n) => n as u32,
                _ => {
                    errors.add(
                        "schema_attempts",
                        format!("must be a whole number from 1 to {MAX_SCHEMA_ATTEMPTS}"),
                    );
                    DEFAULT_SCHEMA_ATTEMPTS
                }
            },
        };
        if field("schema_attempts").is_some() && field("output_schema").is_none() {
            errors.add("schema_attempts", "needs output_schema");
        }
        let cache_ttl = match field("cache") {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(DEFAULT_CACHE_TTL),
            Some(Value::Object(o)) if o.len() == 1 && o.contains_key("ttl_ms") => {
                match o.get("ttl_ms").and_then(Value::as_u64) {
                    Some(ms) if ms >= 1 && Duration::from_millis(ms) <= MAX_CACHE_TTL => {
                        Some(Duration::from_millis(ms))
                    }
                    _ => {
                        errors.add(
                            "cache.ttl_ms",
                            format!(
                                "must be a whole number of milliseconds from 1 to {}",
                                MAX_CACHE_TTL.as_millis()
                            ),
                        );
                        None
                    }
                }
            }
            Some(_) => {
                errors.add(
                    "cache",
                    "must be true, false or {\"ttl_ms\": <milliseconds>}",
                );
                None
            }
        };
        let request = errors.check(request);
        errors.finish()?;
        let Some(mut request) = request else {
            return Err(DomainError::invalid("", "must be a JSON object"));
        };
        request.output_schema = schema.clone();
        Ok(Self {
            request,
            output: schema.map(|schema| OutputSchema { schema, attempts }),
            cache_ttl,
        })
    }
}

impl OutputSchema {
    /// The system instruction that asks for JSON, for providers that cannot be told otherwise
    /// (and as a reminder for those that can).
    pub fn instruction(&self) -> String {
        format!(
            "Answer with one JSON value that matches this JSON Schema, and nothing else \
             (no prose, no code fence): {}",
            self.schema
        )
    }

    /// The answer's JSON value when it is JSON matching the schema; else what is wrong with it.
    pub fn check(&self, text: &str) -> Result<Value, Vec<String>> {
        let value: Value = serde_json::from_str(unfenced(text))
            .map_err(|e| vec![format!("the answer is not JSON: {e}")])?;
        let validator = jsonschema::validator_for(&self.schema)
            .map_err(|e| vec![format!("the output_schema does not compile: {e}")])?;
        let violations: Vec<String> = validator
            .iter_errors(&value)
            .take(MAX_VIOLATIONS)
            .map(|error| {
                let pointer = error.instance_path().to_string();
                let at = if pointer.is_empty() { "/" } else { &pointer };
                format!("at {at}: {error}")
            })
            .collect();
        if violations.is_empty() {
            Ok(value)
        } else {
            Err(violations)
        }
    }

    /// The message that asks again, naming what was wrong.
    pub fn feedback(violations: &[String]) -> String {
        format!(
            "Your answer did not match the JSON Schema: {}. Answer again with only the corrected \
             JSON value.",
            violations.join("; ")
        )
    }
}

/// The text inside a Markdown code fence, when the whole answer is one.
fn unfenced(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return trimmed;
    };
    // The fence's info string (`json`) ends at the first line break.
    body.split_once('\n').map_or(body, |(_, code)| code).trim()
}

/// Whether a failed call moves on to the next model of a `model` list: a failure that is not
/// the caller's fault (the provider unavailable, overloaded or rate-limiting, a time-out, a
/// network error, a broken stream). A 4xx (the request itself refused) does not.
pub fn falls_back(error: &TaskError) -> bool {
    let caller_fault =
        matches!(error.status, Some(s) if (400..500).contains(&s) && s != 408 && s != 429);
    error.retryable && !caller_fault && !matches!(error.kind, "store" | "lease_lost")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_task_fields_are_read_and_checked() {
        let task = LlmTask::from_json(&json!({
            "prompt": "p", "model": ["a", "b"],
            "output_schema": {"type": "object"}, "schema_attempts": 3, "cache": {"ttl_ms": 5000}
        }))
        .unwrap();
        assert_eq!(task.request.model.as_deref(), Some("a"));
        assert_eq!(task.request.fallbacks, vec!["b".to_owned()]);
        assert_eq!(task.output.as_ref().map(|o| o.attempts), Some(3));
        assert_eq!(task.request.output_schema, Some(json!({"type": "object"})));
        assert_eq!(task.cache_ttl, Some(Duration::from_millis(5000)));
        let err = LlmTask::from_json(&json!({
            "output_schema": {"type": "nope"}, "schema_attempts": 9, "cache": "yes", "model": []
        }))
        .unwrap_err()
        .to_string();
        for field in [
            "prompt",
            "output_schema",
            "schema_attempts",
            "cache",
            "model",
        ] {
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn answers_are_parsed_from_fences_and_checked() {
        let output = OutputSchema {
            schema: json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}),
            attempts: 2,
        };
        assert_eq!(
            output.check("```json\n{\"n\": 1}\n```"),
            Ok(json!({"n": 1}))
        );
        assert_eq!(output.check(" {\"n\": 2} "), Ok(json!({"n": 2})));
        let violations = output.check("{\"n\": \"x\"}").unwrap_err();
        assert!(violations[0].contains("/n"), "{violations:?}");
        assert!(output.check("not json").unwrap_err()[0].contains("not JSON"));
    }

    #[test]
    fn only_failures_not_of_the_callers_making_fall_back() {
        let with = |status| TaskError {
            status: Some(status),
            ..TaskError::retryable("llm_unavailable", "x")
        };
        assert!(falls_back(&with(503)));
        assert!(falls_back(&with(429)));
        assert!(falls_back(&TaskError::retryable("timeout", "x")));
        assert!(!falls_back(&TaskError {
            status: Some(400),
            ..TaskError::permanent("llm_bad_request", "x")
        }));
        assert!(!falls_back(&TaskError::retryable("store", "x")));
    }
}
