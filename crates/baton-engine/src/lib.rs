#![doc = include_str!("../README.md")]

mod executor;
pub mod jq;
mod tasks;
pub mod templates;

pub use executor::{Engine, EngineConfig, EngineHandle};
