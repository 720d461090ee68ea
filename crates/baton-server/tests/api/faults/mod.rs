//! The standing fault campaign: hostile third parties, runaway programs. Every case ends in a
//! clean terminal state within its limits, on both stores, and the run reads back afterwards.

mod database_restart;
mod exhaustion;
mod hostile_fetch;
mod hostile_llm;
mod kill_under_load;
mod raw_server;
mod runaway_jq;

use std::time::Duration;

use baton_testkit::sse;
use baton_testkit::{Api, expect_status};
use reqwest::StatusCode;
use serde_json::Value;

/// Every case is over well within this.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Reads the run back the ways a client does: the workflow, its tasks, its whole event stream.
/// None may fail; the stream must end with the workflow's terminal event. Returns the tasks.
pub async fn read_back(api: &impl Api, workflow_id: &str, status: &str) -> Vec<Value> {
    let workflow = expect_status(
        api.get(&format!("/api/workflows/{workflow_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(workflow["status"], status, "{workflow}");
    let tasks = expect_status(
        api.get(&format!("/api/workflows/{workflow_id}/tasks"))
            .await,
        StatusCode::OK,
    )
    .await;
    let events = sse::collect(
        api.get(&format!("/api/workflows/{workflow_id}/events"))
            .await,
        LIMIT,
    )
    .await;
    let last = events.last().map(|e| e.event.as_str()).unwrap_or_default();
    assert_eq!(last, format!("workflow.{status}"), "{events:?}");
    tasks["data"].as_array().expect("tasks").clone()
}
