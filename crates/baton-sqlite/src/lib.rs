#![doc = include_str!("../README.md")]

mod budget;
mod claims;
mod concurrency;
mod definitions;
mod documents;
mod edit;
mod error;
mod events;
mod guard;
mod idempotency;
mod inbox;
mod lifecycle;
mod llm;
mod models;
#[cfg(test)]
mod plans;
mod pool;
mod ports;
mod prepared;
mod queue;
mod queue_stats;
mod schedules;
mod schema;
mod secrets;
mod steps;
mod store;
mod tasks;
mod time;
mod users;
mod workflows;

pub use store::{SqliteConfig, SqliteStore, run_migrations};
