#![doc = include_str!("../README.md")]

pub mod events;
mod executor;
pub mod jq;
mod runtime;
mod service;
mod tasks;
pub mod templates;

pub use events::{EventHub, Subscription};
pub use executor::{Engine, EngineConfig, EngineHandle};
pub use runtime::{Runtime, RuntimeBuilder};
pub use service::Workflows;
pub use tasks::LLM_NOT_CONFIGURED;
