//! Baton's HTTP API end to end: the real app on a random port, a real Postgres database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod auth_matrix;
mod concurrency;
mod config;
mod documents;
mod errors;
mod health;
mod helpers;
mod idempotency;
mod llm;
mod openapi;
mod ownership;
mod processes;
mod protection;
mod queries;
mod rate_limit;
mod retries;
mod runs;
mod secrets;
mod ssrf;
mod streaming;
mod strictness;
mod tasks;
mod validation;
mod workflows;
