//! The `llm` task: an answer from the response cache when allowed, else its models tried in
//! order (the next when one fails through no fault of the caller), a structured answer asked
//! again with its violations fed back, every call paced by the model's shared limits, streamed
//! (see [`stream`]) and written to the usage ledger.

mod calls;
mod policy;
mod stream;

use baton_domain::{ChatMessage, Claim, LlmRequest, LlmTask, OutputSchema, TaskError, falls_back};
use serde_json::{Value, json};

pub use policy::{AnswerCache, LlmPolicy};

use crate::tasks::{Deps, Success};
use calls::Caller;
use stream::Answer;

pub const LLM_NOT_CONFIGURED: &str = "no language model is configured: set BATON_LLM_BASE_URL \
    (and BATON_LLM_API_KEY or OPENAI_API_KEY, and BATON_LLM_MODEL) and restart Baton";

/// Runs one attempt of an `llm` task with its `resolved` input.
pub async fn run(deps: &Deps<'_>, claim: &Claim, resolved: &Value) -> Result<Success, TaskError> {
    let Some(client) = deps.llm else {
        return Err(TaskError::permanent(
            "llm_not_configured",
            LLM_NOT_CONFIGURED,
        ));
    };
    let task = LlmTask::from_json(resolved)
        .map_err(|e| TaskError::permanent("invalid_input", e.under("input").to_string()))?;
    let models: Vec<String> = std::iter::once(
        task.request
            .model
            .clone()
            .unwrap_or_else(|| client.default_model().to_owned()),
    )
    .chain(task.request.fallbacks.iter().cloned())
    .collect();
    let mut caller = Caller::new(deps, client, claim);
    let cache_key = task
        .cache_ttl
        .map(|_| policy::cache_key(claim.task.owner_id, &task.request, &models));
    if let Some(key) = &cache_key
        && let Some(output) = caller.cached(key).await?
    {
        return Ok(Success {
            output,
            document: None,
        });
    }
    let mut failures = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let mut request = task.request.clone();
        request.model = Some(model.clone());
        request.fallbacks.clear();
        let last = i + 1 == models.len();
        match answer(&mut caller, request, task.output.as_ref(), last).await {
            Ok(done) => {
                let output = done.output(&caller, &failures);
                if let (Some(key), Some(ttl)) = (&cache_key, task.cache_ttl) {
                    caller.keep(key, &output, ttl).await;
                }
                return Ok(Success {
                    output,
                    document: None,
                });
            }
            Err(error) if falls_back(&error) && !last => {
                tracing::info!(%model, error = %error.message, "model failed; trying the next");
                failures.push(json!({"model": model, "error": error.message}));
                caller.streamer.rewind();
            }
            Err(mut error) => {
                if !failures.is_empty() {
                    error.message = format!(
                        "{} (after {} other model{} failed)",
                        error.message,
                        failures.len(),
                        if failures.len() == 1 { "" } else { "s" }
                    );
                }
                return Err(error);
            }
        }
    }
    Err(TaskError::permanent("llm", "no model to call"))
}

/// The answer of one model: text, and its JSON value when a schema asked for one.
struct Done {
    answer: Answer,
    json: Option<Value>,
}

impl Done {
    fn output(&self, caller: &Caller<'_, '_>, fallbacks: &[Value]) -> Value {
        let mut output = json!({
            "text": self.answer.text,
            "model": self.answer.model,
            "finish_reason": self.answer.finish_reason,
            "usage": caller.usage(),
            "calls": caller.streamer.calls.len(),
            "cached": false,
        });
        if let Some(json) = &self.json {
            output["json"] = json.clone();
        }
        if !fallbacks.is_empty() {
            output["fallbacks"] = Value::Array(fallbacks.to_vec());
        }
        output
    }
}

/// Asks one model; with a schema, again (up to its attempts) with the violations fed back.
/// `last`: no model follows (a rate limit is waited out rather than passed on).
async fn answer(
    caller: &mut Caller<'_, '_>,
    mut request: LlmRequest,
    output: Option<&OutputSchema>,
    last: bool,
) -> Result<Done, TaskError> {
    let Some(output) = output else {
        let answer = caller.call(&request, last).await?;
        return Ok(Done { answer, json: None });
    };
    request.messages.insert(
        0,
        ChatMessage {
            role: "system".into(),
            content: output.instruction(),
        },
    );
    let mut asked = 0;
    loop {
        asked += 1;
        let answer = caller.call(&request, last).await?;
        let violations = match output.check(&answer.text) {
            Ok(json) => {
                return Ok(Done {
                    answer,
                    json: Some(json),
                });
            }
            Err(violations) => violations,
        };
        if asked >= output.attempts {
            return Err(TaskError::permanent(
                "llm_schema",
                format!(
                    "the model's answer did not match output_schema after {asked} call{}: {}",
                    if asked == 1 { "" } else { "s" },
                    violations.join("; ")
                ),
            ));
        }
        tracing::info!(
            violations = violations.len(),
            "answer did not match the schema; asking again"
        );
        request.messages.push(ChatMessage {
            role: "assistant".into(),
            content: answer.text,
        });
        request.messages.push(ChatMessage {
            role: "user".into(),
            content: OutputSchema::feedback(&violations),
        });
        caller.streamer.rewind();
    }
}
