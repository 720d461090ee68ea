//! What each task type does with its resolved input.

use std::time::Duration;

use baton_domain::ports::{HttpFetcher, LlmClient, Signals, TaskQueue};
use baton_domain::{Claim, FetchRequest, NewDocument, TaskError, TaskType};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::jq::JqCache;
use crate::secrets::Redactor;

/// The result of one successful attempt.
pub struct Success {
    pub output: Value,
    pub document: Option<NewDocument>,
}

pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

fn invalid(message: impl Into<String>) -> TaskError {
    TaskError::permanent("invalid_input", message)
}

fn string<'a>(input: &'a Value, field: &str) -> Result<&'a str, TaskError> {
    input
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("input.{field} must be a string once rendered")))
}

/// What tasks use from the outside world.
pub struct Deps<'a> {
    pub fetcher: &'a dyn HttpFetcher,
    pub llm: Option<&'a dyn LlmClient>,
    pub queue: &'a dyn TaskQueue,
    pub signals: &'a dyn Signals,
    pub jq: &'a JqCache,
    /// Hides the values of the task's secrets in the text it streams.
    pub redactor: &'a Redactor,
    /// Models' prices and shared limits.
    pub llm_policy: &'a crate::llm::LlmPolicy,
    /// The in-memory front of the response cache.
    pub answers: &'a crate::llm::AnswerCache,
}

/// Runs one attempt of `claim`'s task with its `resolved` input; `context` is what jq sees.
pub async fn run(
    deps: &Deps<'_>,
    claim: &Claim,
    resolved: &Value,
    context: Value,
    limit: Duration,
) -> Result<Success, TaskError> {
    match claim.task.task_type {
        TaskType::Fetch => fetch(deps.fetcher, claim, resolved, limit).await,
        TaskType::Transform => {
            let program = string(resolved, "jq")?;
            let output = deps.jq.run(program, context, limit).await?;
            Ok(Success {
                output,
                document: None,
            })
        }
        TaskType::Store => {
            let collection = string(resolved, "collection")?.to_owned();
            let data = resolved
                .get("document")
                .cloned()
                .ok_or_else(|| invalid("input.document is required"))?;
            let id = Uuid::now_v7();
            Ok(Success {
                output: json!({"document_id": id, "collection": collection}),
                document: Some(NewDocument {
                    id,
                    collection,
                    data,
                }),
            })
        }
        TaskType::Llm => crate::llm::run(deps, claim, resolved).await,
        // Started and joined by the executor (a step of its own), never run as an attempt.
        TaskType::Workflow => Err(TaskError::permanent(
            "invalid_input",
            "a workflow task starts its child workflow: it has no attempt of its own to run",
        )),
        // Parked and woken by the executor (steps of their own), never run as an attempt.
        TaskType::Sleep | TaskType::Wait => Err(TaskError::permanent(
            "invalid_input",
            "a sleep or wait task waits without a worker: it has no attempt of its own to run",
        )),
    }
}

async fn fetch(
    fetcher: &dyn HttpFetcher,
    claim: &Claim,
    resolved: &Value,
    limit: Duration,
) -> Result<Success, TaskError> {
    let url = string(resolved, "url")?.to_owned();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(invalid(format!("input.url {url:?} is not an http(s) URL")));
    }
    let method = match resolved.get("method") {
        None | Some(Value::Null) => "GET".to_owned(),
        Some(Value::String(m)) => m.to_ascii_uppercase(),
        Some(_) => return Err(invalid("input.method must be a string")),
    };
    let headers = match resolved.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Ok((k.clone(), other.to_string())),
            })
            .collect::<Result<_, TaskError>>()?,
        Some(_) => return Err(invalid("input.headers must be an object")),
    };
    let timeout = resolved
        .get("timeout_ms")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_FETCH_TIMEOUT, Duration::from_millis)
        .min(limit);
    let request = FetchRequest {
        url: url.clone(),
        method,
        headers,
        body: resolved.get("body").filter(|b| !b.is_null()).cloned(),
        timeout,
        idempotency_key: claim.task.id.to_string(),
    };
    let response = fetcher.fetch(request).await?;
    let status = response.status;
    if status < 400 {
        return Ok(Success {
            output: json!({
                "status": status,
                "headers": response.headers,
                "body": response.body,
            }),
            document: None,
        });
    }
    let retryable = matches!(status, 408 | 425 | 429) || status >= 500;
    let excerpt: String = match &response.body {
        Value::String(s) => s.chars().take(300).collect(),
        other => other.to_string().chars().take(300).collect(),
    };
    Err(TaskError {
        kind: "http",
        message: format!("{url} answered HTTP {status}: {excerpt}"),
        retryable,
        status: Some(status),
        retry_after: response.retry_after,
        detail: None,
    })
}
