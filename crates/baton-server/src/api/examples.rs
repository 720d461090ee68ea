//! The request bodies of the OpenAPI document's examples: real requests, each accepted by the
//! server as it stands (`tests/api/openapi.rs` sends every one and expects a 2xx), the ids in
//! them aside (`workflow_id` names one of the caller's pending workflows).

use serde_json::{Value, json};

/// A workflow's id, in examples that must name one.
pub const WORKFLOW_ID: &str = "0196f6a2-7c1e-7d3a-9b1c-5f2e8a4d3c21";

/// Reshape the input with jq, store the result as a document, and start at once.
pub fn create_workflow() -> Value {
    json!({
        "name": "release digest",
        "input": {"greeting": "hello", "items": [3, 1, 2]},
        "start": true,
        "tasks": [
            {"key": "shape", "type": "transform",
             "input": {"jq": "{greeting: .input.greeting, top: (.input.items | max)}"}},
            {"type": "store", "input": {"collection": "digests", "document": "{{ prev }}"}}
        ]
    })
}

/// A pending workflow without tasks yet, to build step by step.
pub fn create_draft_workflow() -> Value {
    json!({"name": "step by step"})
}

pub fn patch_workflow() -> Value {
    json!({"name": "renamed", "input": {"greeting": "hi"}})
}

pub fn create_task() -> Value {
    json!({"workflow_id": WORKFLOW_ID, "type": "transform", "input": {"jq": "{answer: 42}"}})
}

pub fn put_task() -> Value {
    json!({
        "key": "answer",
        "title": "The answer",
        "type": "transform",
        "input": {"jq": "{answer: 42}"},
        "retry": {"max_attempts": 5, "initial_ms": 500},
        "timeout_ms": 10000
    })
}

pub fn patch_task() -> Value {
    json!({"title": "The answer, again"})
}

pub fn completion() -> Value {
    json!({"prompt": "Say hello", "max_tokens": 60})
}

pub fn streamed_completion() -> Value {
    json!({"system": "Answer in one word.", "prompt": "Say hello", "stream": true})
}

/// The first administrator of README.md's "Protecting it".
pub fn login() -> Value {
    json!({"email": "admin@example.com", "password": "change me now"})
}

pub fn create_api_key() -> Value {
    json!({"name": "ci"})
}

pub fn create_user() -> Value {
    json!({"email": "ada@example.com", "password": "a long password", "role": "member"})
}

/// A secret for a fetch task's `Authorization` header: `"Bearer {{ secrets.WEATHER_API_KEY }}"`.
pub fn create_secret() -> Value {
    json!({"name": "WEATHER_API_KEY", "value": "wk-3f9a1c7e2b"})
}

pub fn put_secret() -> Value {
    json!({"value": "wk-8d2e4b6a1f"})
}

/// The definition the other definition and schedule examples name.
pub const DEFINITION: &str = "daily-digest";

/// A new definition: a reshape of the input with defaults and an input schema.
pub fn create_definition() -> Value {
    json!({
        "name": "weekly-report",
        "description": "Top item of the week",
        "input_schema": {"type": "object", "required": ["items"],
                         "properties": {"items": {"type": "array", "items": {"type": "number"}}}},
        "defaults": {"input": {"greeting": "hello"}, "retry": {"max_attempts": 5}},
        "tasks": [
            {"key": "shape", "type": "transform",
             "input": {"jq": "{greeting: .input.greeting, top: (.input.items | max)}"}}
        ]
    })
}

/// A new version of `daily-digest`.
pub fn put_definition() -> Value {
    json!({
        "description": "Reshape, then store the digest",
        "defaults": {"input": {"greeting": "hello", "items": [1]}},
        "tasks": [
            {"key": "shape", "type": "transform",
             "input": {"jq": "{greeting: .input.greeting, top: (.input.items | max)}"}},
            {"type": "store", "input": {"collection": "digests", "document": "{{ prev }}"}}
        ]
    })
}

/// A run of the latest version, with some input over its defaults.
pub fn run_definition() -> Value {
    json!({"input": {"items": [3, 1, 2]}})
}

/// `daily-digest` every weekday at 09:00 in Paris.
pub fn create_schedule() -> Value {
    json!({
        "definition": DEFINITION,
        "input": {"items": [3, 1, 2]},
        "cron": "0 9 * * MON-FRI",
        "timezone": "Europe/Paris",
        "misfire": "run_once"
    })
}
