#![doc = include_str!("../README.md")]
// Test scaffolding: failing loudly at setup is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod app;
mod database;

pub use app::{TestApp, expect_status};
pub use database::TestDatabase;
