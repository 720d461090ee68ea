#![doc = include_str!("../README.md")]

mod admission;
mod check;
mod concurrency_key;
mod definitions;
pub mod events;
mod executor;
pub mod jq;
mod jq_bounds;
mod jq_errors;
mod jq_guard;
mod jq_rewrite;
mod jq_threads;
#[cfg(test)]
mod jq_timing;
mod llm;
pub mod observer;
mod position;
mod runtime;
mod scheduler;
mod schedules;
pub mod secrets;
mod service;
mod tasks;
mod template_errors;
pub mod templates;
mod validation;

pub use admission::Admissions;
pub use definitions::Definitions;
pub use events::{EventHub, Subscription};
pub use executor::{
    DEFAULT_COMMIT_BATCH, DEFAULT_TRANSFORM_TIMEOUT, Engine, EngineConfig, EngineHandle,
};
pub use llm::{LLM_NOT_CONFIGURED, LlmPolicy};
pub use observer::{LlmUsage, NoObserver, Observer, TaskEnd};
pub use runtime::{Runtime, RuntimeBuilder};
pub use schedules::Schedules;
pub use secrets::{Secrets, SecretsKey};
pub use service::Workflows;
