#![doc = include_str!("../README.md")]
// Test scaffolding: failing loudly at setup is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api;
mod app;
mod auth;
mod backend;
mod database;
mod fake_llm;
mod inspect_pg;
mod inspect_sqlite;
mod private_postgres;
mod process;
pub mod sse;
mod table_lock;
mod wait;

pub use api::Api;
pub use app::{SECRETS_KEY, TestApp, expect_status};
pub use auth::{ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, MEMBER_PASSWORD, Member, Session};
pub use backend::Backend;
pub use database::TestDatabase;
pub use fake_llm::{DEFAULT_TOKENS, FakeLlm, Script};
pub use private_postgres::PrivatePostgres;
pub use process::BatonProcess;
pub use table_lock::TableLock;
pub use wait::wait_until;
