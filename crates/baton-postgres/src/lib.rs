#![doc = include_str!("../README.md")]

mod auth_schema;
mod budget;
mod concurrency;
mod definitions;
mod descendants;
mod documents;
mod edit;
mod error;
mod event_log;
mod events;
mod guard;
mod idempotency;
mod inbox;
mod lifecycle;
mod listener;
mod llm;
mod models;
mod pool;
mod queue;
mod queue_stats;
mod schedules;
mod schema;
mod secrets;
mod signals;
mod steps;
mod store;
mod tasks;
mod users;
mod workflows;

pub use events::{CANCEL_CHANNEL, EVENTS_CHANNEL, WORK_CHANNEL};
pub use listener::spawn_listener;
pub use pool::{MIGRATIONS, PgConfig, create_database_if_missing, drop_database, run_migrations};
pub use signals::PgSignals;
pub use store::PgStore;
pub use users::AUTH_CHANNEL;
