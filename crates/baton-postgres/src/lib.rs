#![doc = include_str!("../README.md")]

mod error;
mod models;
mod pool;
mod schema;
mod store;
mod tasks;
mod workflows;

pub use pool::{MIGRATIONS, PgConfig, create_database_if_missing, drop_database, run_migrations};
pub use store::PgStore;
