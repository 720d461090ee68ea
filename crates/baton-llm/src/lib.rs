#![doc = include_str!("../README.md")]

mod errors;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use baton_domain::ports::LlmClient;
use baton_domain::{LlmCompletion, LlmEvent, LlmRequest, LlmStream, TaskError, Usage};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};

use crate::errors::{from_response, from_transport};
use crate::wire::{ChatRequest, Chunk, Completion, StreamOptions};

/// Where the model is and how patient to be with it.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// Used when a request names no model.
    pub model: String,
    pub connect_timeout: Duration,
    /// From sending the request to the first token (or, without streaming, to the answer).
    pub first_token_timeout: Duration,
    /// Longest silence between two streamed chunks.
    pub idle_timeout: Duration,
    /// How a request with an output schema asks for JSON.
    pub response_format: ResponseFormat,
}

/// How the provider is asked for structured output (`BATON_LLM_RESPONSE_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseFormat {
    /// `response_format: {"type": "json_schema", …}` with the schema (OpenAI and most servers).
    #[default]
    JsonSchema,
    /// `response_format: {"type": "json_object"}`: JSON, the schema only in the instruction.
    JsonObject,
    /// No `response_format`: the instruction alone asks for JSON.
    Off,
}

impl ResponseFormat {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "json_schema" => Some(Self::JsonSchema),
            "json_object" => Some(Self::JsonObject),
            "off" => Some(Self::Off),
            _ => None,
        }
    }

    fn field(self, schema: Option<&serde_json::Value>) -> Option<serde_json::Value> {
        let schema = schema?;
        match self {
            Self::JsonSchema => Some(serde_json::json!({
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema},
            })),
            Self::JsonObject => Some(serde_json::json!({"type": "json_object"})),
            Self::Off => None,
        }
    }
}

/// The OpenAI-compatible chat completions client.
#[derive(Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    config: LlmConfig,
    endpoint: String,
}

impl OpenAiClient {
    pub fn new(config: LlmConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let endpoint = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        Ok(Self {
            http,
            config,
            endpoint,
        })
    }

    fn request(&self, body: &ChatRequest<'_>) -> reqwest::RequestBuilder {
        let builder = self.http.post(&self.endpoint).json(body);
        match &self.config.api_key {
            Some(key) => builder.bearer_auth(key.expose_secret()),
            None => builder,
        }
    }

    fn body<'a>(&'a self, request: &'a LlmRequest, stream: bool) -> ChatRequest<'a> {
        ChatRequest {
            model: request.model.as_deref().unwrap_or(&self.config.model),
            messages: &request.messages,
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            response_format: self
                .config
                .response_format
                .field(request.output_schema.as_ref()),
        }
    }

    async fn send(&self, body: &ChatRequest<'_>) -> Result<reqwest::Response, TaskError> {
        let response =
            tokio::time::timeout(self.config.first_token_timeout, self.request(body).send())
                .await
                .map_err(|_| first_token_timeout(self.config.first_token_timeout))?
                .map_err(|e| from_transport(&e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(from_response(response).await)
        }
    }
}

fn first_token_timeout(limit: Duration) -> TaskError {
    TaskError::retryable(
        "timeout",
        format!(
            "the model did not start answering within {} ms",
            limit.as_millis()
        ),
    )
}

fn refused(reason: &str) -> TaskError {
    TaskError::permanent(
        "llm_refused",
        format!("the model refused to answer (finish_reason {reason})"),
    )
}

/// What a stream has said so far, to report at its end.
struct StreamState {
    events: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<eventsource_stream::Event, String>> + Send>,
    >,
    first: bool,
    model: String,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
    first_token_timeout: Duration,
    idle_timeout: Duration,
}

impl StreamState {
    /// The next event for the caller, or `None` at the end.
    async fn next(&mut self) -> Option<Result<LlmEvent, TaskError>> {
        loop {
            if self.done {
                return None;
            }
            let limit = if self.first {
                self.first_token_timeout
            } else {
                self.idle_timeout
            };
            let item = match tokio::time::timeout(limit, self.events.next()).await {
                Err(_) => {
                    self.done = true;
                    return Some(Err(if self.first {
                        first_token_timeout(limit)
                    } else {
                        TaskError::retryable(
                            "timeout",
                            format!("the model stalled: no token for {} ms", limit.as_millis()),
                        )
                    }));
                }
                Ok(item) => item,
            };
            self.first = false;
            let event = match item {
                None => {
                    self.done = true;
                    return Some(Err(TaskError::retryable(
                        "llm_stream",
                        "the model's stream ended before [DONE]",
                    )));
                }
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(TaskError::retryable(
                        "llm_stream",
                        format!("the model's stream broke off: {err}"),
                    )));
                }
                Some(Ok(event)) => event,
            };
            let data = event.data.trim();
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                self.done = true;
                if self.finish_reason.as_deref() == Some("content_filter") {
                    return Some(Err(refused("content_filter")));
                }
                return Some(Ok(LlmEvent::Finished {
                    model: std::mem::take(&mut self.model),
                    finish_reason: self.finish_reason.take(),
                    usage: self.usage.take(),
                }));
            }
            let chunk: Chunk = match serde_json::from_str(data) {
                Ok(chunk) => chunk,
                Err(err) => {
                    self.done = true;
                    return Some(Err(TaskError::retryable(
                        "llm_stream",
                        format!("the model sent a chunk that is not valid JSON: {err}"),
                    )));
                }
            };
            if let Some(error) = chunk.error {
                self.done = true;
                return Some(Err(TaskError::retryable(
                    "llm_stream",
                    format!("the model reported an error mid-stream: {}", error.message),
                )));
            }
            if let Some(model) = chunk.model {
                self.model = model;
            }
            if let Some(usage) = chunk.usage {
                self.usage = Some(usage.into());
            }
            let mut text = String::new();
            for choice in chunk.choices {
                if let Some(reason) = choice.finish_reason {
                    self.finish_reason = Some(reason);
                }
                if let Some(content) = choice.delta.and_then(|d| d.content) {
                    text.push_str(&content);
                }
            }
            if !text.is_empty() {
                return Some(Ok(LlmEvent::Delta(text)));
            }
        }
    }
}

#[async_trait]
impl LlmClient for OpenAiClient {
    fn default_model(&self) -> &str {
        &self.config.model
    }

    async fn stream(&self, request: LlmRequest) -> Result<LlmStream, TaskError> {
        let body = self.body(&request, true);
        let response = self.send(&body).await?;
        let events = response
            .bytes_stream()
            .eventsource()
            .map(|item| item.map_err(|e| e.to_string()));
        let state = StreamState {
            events: Box::pin(events),
            first: true,
            model: body.model.to_owned(),
            finish_reason: None,
            usage: None,
            done: false,
            first_token_timeout: self.config.first_token_timeout,
            idle_timeout: self.config.idle_timeout,
        };
        Ok(Box::pin(futures_util::stream::unfold(
            state,
            |mut state| async move { state.next().await.map(|item| (item, state)) },
        )))
    }

    async fn complete(&self, request: LlmRequest) -> Result<LlmCompletion, TaskError> {
        let body = self.body(&request, false);
        let response = self.send(&body).await?;
        let completion: Completion = tokio::time::timeout(
            self.config
                .idle_timeout
                .max(self.config.first_token_timeout),
            response.json(),
        )
        .await
        .map_err(|_| first_token_timeout(self.config.first_token_timeout))?
        .map_err(|e| {
            TaskError::retryable("llm", format!("unreadable answer from the model: {e}"))
        })?;
        let choice = completion.choices.into_iter().next();
        let finish_reason = choice.as_ref().and_then(|c| c.finish_reason.clone());
        if finish_reason.as_deref() == Some("content_filter") {
            return Err(refused("content_filter"));
        }
        let message = choice.and_then(|c| c.message);
        if let Some(refusal) = message.as_ref().and_then(|m| m.refusal.clone()) {
            return Err(TaskError::permanent(
                "llm_refused",
                format!("the model refused to answer: {refusal}"),
            ));
        }
        Ok(LlmCompletion {
            text: message.and_then(|m| m.content).unwrap_or_default(),
            model: completion.model.unwrap_or_else(|| body.model.to_owned()),
            finish_reason,
            usage: completion.usage.map(Into::into),
        })
    }
}
