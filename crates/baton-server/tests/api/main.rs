//! Baton's HTTP API end to end: the real app on a random port, a real Postgres database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod concurrency;
mod config;
mod documents;
mod errors;
mod health;
mod helpers;
mod llm;
mod processes;
mod queries;
mod retries;
mod runs;
mod streaming;
mod tasks;
mod workflows;
