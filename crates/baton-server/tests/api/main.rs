//! Baton's HTTP API end to end: the real app on a random port, a real Postgres database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod auth_matrix;
mod concurrency;
mod config;
mod errors;
mod health;
mod helpers;
mod processes;
mod queries;
mod retries;
mod runs;
mod tasks;
mod workflows;
