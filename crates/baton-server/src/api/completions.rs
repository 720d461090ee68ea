//! `POST /api/completions`: a one-off call to the configured language model, whole or streamed.

use actix_web::{HttpResponse, web};
use baton_domain::{LlmEvent, LlmRequest, TaskError};
use baton_engine::LLM_NOT_CONFIGURED;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::dto::ErrorBody;
use super::examples;
use super::params::IdempotencyKey;
use super::responses::{PayloadTooLarge, RateLimited, Unauthorized, UnsupportedMediaType};
use super::{AppState, Caller, sse};
use crate::error::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    /// A user message; or give `messages`.
    pub prompt: Option<String>,
    /// `[{role, content}]` with roles system, user, assistant or tool.
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Value>,
    pub system: Option<String>,
    /// Defaults to BATON_LLM_MODEL.
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Answer `text/event-stream` with `data: {"content": "…"}` frames and `data: [DONE]`.
    #[serde(default)]
    pub stream: bool,
}

/// A whole completion.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct CompletionView {
    pub text: String,
    pub model: String,
    pub finish_reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
}

/// One Server-Sent Event of a streamed completion, as the OpenAPI document describes each event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CompletionEvent {
    /// `{"content": "…"}` for each piece of text, `[DONE]` at the end, or `{"error", "code"}`
    /// when the provider fails midway.
    #[schema(example = "{\"content\": \"Hello\"}")]
    pub data: String,
}

/// The provider's failure as an API error: worth retrying → 503; the request's fault → 422.
fn provider_error(error: TaskError) -> ApiError {
    if error.retryable {
        ApiError::Unavailable(error.message)
    } else if matches!(error.kind, "llm_bad_request" | "llm_refused") {
        ApiError::Unprocessable {
            message: error.message,
            details: error.status.map(|s| json!({"provider_status": s})),
        }
    } else {
        tracing::warn!(kind = error.kind, message = %error.message, "the model provider refused");
        ApiError::Unavailable(error.message)
    }
}

/// Complete a prompt
///
/// One call to the configured language model, answered whole or streamed.
#[utoipa::path(
    post, path = "/api/completions", tag = "llm", operation_id = "createCompletion",
    params(IdempotencyKey),
    request_body(content = CompletionRequest, examples(
        ("prompt" = (summary = "One prompt, the whole answer at once", value = json!(examples::completion()))),
        ("stream" = (summary = "Streamed as Server-Sent Events", value = json!(examples::streamed_completion()))),
    )),
    responses(
        (status = 200, description = "The completion; with `stream: true`, a text/event-stream of `data: {\"content\": \"…\"}` frames ending with `data: [DONE]` (or `data: {\"error\", \"code\"}` when the provider fails midway)", content(
            (CompletionView = "application/json"),
            (CompletionEvent = "text/event-stream"),
        )),
        (status = 400, description = "Malformed JSON, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, description = "A request with this `Idempotency-Key` is still in progress", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid request, or refused by the provider (invalid for it, or by its content filter); or the `Idempotency-Key` was used for a different request", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, description = "No model configured, the provider is unavailable, rate-limiting or refusing Baton's credentials; or credentials cannot be checked right now", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    _caller: Caller,
    body: web::Json<CompletionRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let stream = body.stream;
    let input = json!({
        "prompt": body.prompt,
        "messages": body.messages,
        "system": body.system,
        "model": body.model,
        "temperature": body.temperature,
        "max_tokens": body.max_tokens,
    });
    let request = LlmRequest::from_json(&input)?;
    let Some(llm) = state.llm.clone() else {
        return Err(ApiError::Unavailable(LLM_NOT_CONFIGURED.into()));
    };
    if !stream {
        let completion = llm.complete(request).await.map_err(provider_error)?;
        return Ok(HttpResponse::Ok().json(CompletionView {
            text: completion.text,
            model: completion.model,
            finish_reason: completion.finish_reason,
            usage: completion.usage.map(|u| json!(u)),
        }));
    }
    let upstream = llm.stream(request).await.map_err(provider_error)?;
    // Dropping this body (the client went away) drops the upstream request with it.
    let body = upstream
        .map(|item| match item {
            Ok(LlmEvent::Delta(text)) => Some(sse::data(&json!({"content": text}).to_string())),
            Ok(LlmEvent::Finished { .. }) => Some(sse::data("[DONE]")),
            Err(error) => {
                let api = provider_error(error);
                Some(sse::data(
                    &json!({"error": api.to_string(), "code": api.code()}).to_string(),
                ))
            }
        })
        .take_while(|frame| std::future::ready(frame.is_some()))
        .filter_map(|frame| std::future::ready(frame.map(Ok::<_, actix_web::Error>)));
    Ok(sse::response(body))
}
