#![doc = include_str!("../README.md")]

pub mod events;
mod executor;
pub mod jq;
mod tasks;
pub mod templates;

pub use events::{EventHub, Subscription};
pub use executor::{Engine, EngineConfig, EngineHandle};
pub use tasks::LLM_NOT_CONFIGURED;
