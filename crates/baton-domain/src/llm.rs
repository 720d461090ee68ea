//! Language-model calls: what the `llm` task and `/api/completions` ask for and get back.

use std::pin::Pin;

use futures_core::Stream;
use serde::Serialize;
use serde_json::Value;

use crate::error::Errors;
use crate::{DomainError, TaskError};

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// A chat completion request, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    /// `None`: the configured default model.
    pub model: Option<String>,
    /// The models to try next, in order, when `model` fails through no fault of the caller
    /// (see [`crate::falls_back`]): `model` given as a list.
    pub fallbacks: Vec<String>,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// The JSON Schema the answer must match (structured output): the provider adapter asks
    /// for JSON in the way its provider supports.
    pub output_schema: Option<Value>,
}

/// Token counts the provider reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A finished completion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmCompletion {
    pub text: String,
    pub model: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

/// A piece of a streamed completion.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    /// More text.
    Delta(String),
    /// The end, with what the provider reported about the whole completion.
    Finished {
        model: String,
        finish_reason: Option<String>,
        usage: Option<Usage>,
    },
}

/// A streamed completion: deltas, then one `Finished`, or an error (retryable or not).
pub type LlmStream = Pin<Box<dyn Stream<Item = Result<LlmEvent, TaskError>> + Send>>;

const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// The most models one request may list.
pub const MAX_MODELS: usize = 5;

impl LlmRequest {
    /// Builds a request from the JSON a client or an `llm` task gives: `prompt` or `messages`,
    /// optional `system`, `model`, `temperature` (0 to 2), `max_tokens` (≥ 1). Field errors are
    /// named `input.<field>`-relative (`prompt`, `messages[1].role`, …).
    pub fn from_json(input: &Value) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let Some(object) = input.as_object() else {
            return Err(DomainError::invalid("", "must be a JSON object"));
        };
        let field = |name: &str| object.get(name).filter(|v| !v.is_null());
        let mut messages = Vec::new();
        match field("system") {
            None => {}
            Some(Value::String(s)) => messages.push(ChatMessage {
                role: "system".into(),
                content: s.clone(),
            }),
            Some(_) => errors.add("system", "must be a string"),
        }
        match (field("prompt"), field("messages")) {
            (Some(_), Some(_)) => errors.add("prompt", "give either prompt or messages, not both"),
            (None, None) => errors.add("prompt", "prompt or messages is required"),
            (Some(Value::String(p)), None) if !p.trim().is_empty() => messages.push(ChatMessage {
                role: "user".into(),
                content: p.clone(),
            }),
            (Some(_), None) => errors.add("prompt", "must be a non-empty string"),
            (None, Some(Value::Array(items))) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let role = item.get("role").and_then(Value::as_str);
                    let content = item.get("content").and_then(Value::as_str);
                    match (role, content) {
                        (Some(role), Some(content)) if ROLES.contains(&role) => {
                            messages.push(ChatMessage {
                                role: role.into(),
                                content: content.into(),
                            })
                        }
                        (Some(_), Some(_)) => errors.add(
                            format!("messages[{i}].role"),
                            "must be system, user, assistant or tool",
                        ),
                        _ => errors.add(
                            format!("messages[{i}]"),
                            "must be an object with string role and content",
                        ),
                    }
                }
            }
            (None, Some(_)) => errors.add("messages", "must be a non-empty array"),
        }
        let mut models = match field("model") {
            None => Vec::new(),
            Some(Value::String(m)) if !m.trim().is_empty() => vec![m.clone()],
            Some(Value::Array(items))
                if (1..=MAX_MODELS).contains(&items.len())
                    && items
                        .iter()
                        .all(|m| m.as_str().is_some_and(|m| !m.trim().is_empty())) =>
            {
                items
                    .iter()
                    .filter_map(|m| m.as_str().map(str::to_owned))
                    .collect()
            }
            Some(_) => {
                errors.add(
                    "model",
                    format!(
                        "must be a non-empty string, or a list of 1 to {MAX_MODELS} of them \
                         (tried in order)"
                    ),
                );
                Vec::new()
            }
        };
        let model = (!models.is_empty()).then(|| models.remove(0));
        let temperature = match field("temperature") {
            None => None,
            Some(v) => match v.as_f64() {
                Some(t) if (0.0..=2.0).contains(&t) => Some(t),
                _ => {
                    errors.add("temperature", "must be a number between 0 and 2");
                    None
                }
            },
        };
        let max_tokens = match field("max_tokens") {
            None => None,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n >= 1 => Some(n),
                _ => {
                    errors.add("max_tokens", "must be a whole number of at least 1");
                    None
                }
            },
        };
        errors.finish()?;
        Ok(Self {
            model,
            fallbacks: models,
            messages,
            temperature,
            max_tokens,
            output_schema: None,
        })
    }
}

/// Checks the shape of an `llm` task's input where no template makes it unknowable yet.
pub(crate) fn check_task_input(input: &Value) -> Result<(), DomainError> {
    let templated = |name: &str| {
        input
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains("{{"))
    };
    // `messages` given as one template resolves to an array only when the task runs.
    if templated("messages") {
        return Ok(());
    }
    let mut probe = input.clone();
    // Templated numbers and models are checked when the task runs.
    if let Some(object) = probe.as_object_mut() {
        for name in ["temperature", "max_tokens", "schema_attempts", "model"] {
            if templated(name) {
                object.remove(name);
            }
        }
    }
    crate::LlmTask::from_json(&probe)
        .map(|_| ())
        .map_err(|e| e.under("input"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn prompt_with_system_and_options() {
        let req = LlmRequest::from_json(&json!({
            "prompt": "Hi", "system": "Be brief", "model": "m", "temperature": 0.2, "max_tokens": 50
        }))
        .unwrap();
        assert_eq!(req.messages.len(), 2);
        assert_eq!(req.messages[0].role, "system");
        assert_eq!(req.messages[1].content, "Hi");
        assert_eq!(req.model.as_deref(), Some("m"));
        assert_eq!(req.max_tokens, Some(50));
    }

    #[test]
    fn messages_are_checked_one_by_one() {
        let err = LlmRequest::from_json(&json!({
            "messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}, {"x": 1}]
        }))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("messages[1].role") && err.contains("messages[2]"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let err = LlmRequest::from_json(&json!({"temperature": 3, "max_tokens": 0}))
            .unwrap_err()
            .to_string();
        for field in ["prompt", "temperature", "max_tokens"] {
            assert!(err.contains(field), "{err}");
        }
        assert!(LlmRequest::from_json(&json!({"prompt": "a", "messages": []})).is_err());
    }

    #[test]
    fn task_input_with_templates_is_checked_when_it_runs() {
        assert!(check_task_input(&json!({"prompt": "Summarize {{ prev }}"})).is_ok());
        assert!(check_task_input(&json!({"messages": "{{ steps.chat.output }}"})).is_ok());
        assert!(check_task_input(&json!({"prompt": "x", "max_tokens": "{{ input.n }}"})).is_ok());
        let err = check_task_input(&json!({})).unwrap_err().to_string();
        assert!(err.contains("input.prompt"), "{err}");
    }
}
