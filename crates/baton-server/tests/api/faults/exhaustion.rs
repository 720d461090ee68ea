//! One caller cannot hold every connection: live event streams per caller are bounded.

use std::time::Duration;

use baton_testkit::{Api, TestApp, expect_status, wait_until};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::id_of;

#[tokio::test(flavor = "multi_thread")]
async fn streams_past_the_per_caller_limit_answer_429_until_one_ends() {
    let app = TestApp::spawn_with(&[("BATON_SSE_PER_CALLER", "2")]).await;
    // Not started: its streams stay open.
    let wf = app
        .create_workflow(&json!({"name": "idle", "start": false,
            "tasks": [{"type": "transform", "input": {"jq": "."}}]}))
        .await;
    let path = format!("/api/workflows/{}/events", id_of(&wf));
    let first = app.get(&path).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = app.get(&path).await;
    assert_eq!(second.status(), StatusCode::OK);
    let refused = expect_status(app.get(&path).await, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(refused["code"], "RATE_LIMITED", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("BATON_SSE_PER_CALLER"),
        "{refused}"
    );
    // Other requests still answer.
    expect_status(app.get(&path.replace("/events", "")).await, StatusCode::OK).await;
    // A stream ends with its workflow, and frees its slot.
    let id = id_of(&wf);
    let started = app
        .post_json(&format!("/api/workflows/{id}/start"), &json!({}))
        .await;
    assert!(started.status().is_success(), "{}", started.status());
    let ended = baton_testkit::sse::collect(first, Duration::from_secs(30)).await;
    assert_eq!(ended.last().unwrap().event, "workflow.completed");
    wait_until(
        "an ended stream frees its slot",
        Duration::from_secs(10),
        || async { app.get(&path).await.status() == StatusCode::OK },
    )
    .await;
    drop(second);
}
