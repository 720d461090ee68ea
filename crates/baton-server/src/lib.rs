#![doc = include_str!("../README.md")]

pub mod api;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod error;
mod llm_policy;
pub mod metrics;
pub mod middleware;
pub mod protection;
pub mod secrets_key;
pub mod startup;
pub mod store;
pub mod store_location;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
