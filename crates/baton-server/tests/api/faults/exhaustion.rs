//! Exhaustion: one caller cannot hold every connection (live event streams per caller are
//! bounded); a pool whose every connection is held answers 503 in bounded time; thousands of
//! idle event streams do not stop the API.

use std::time::Duration;

use baton_testkit::{Api, Backend, TestApp, expect_status, sse, wait_until};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use super::LIMIT;
use crate::helpers::id_of;
use crate::runs::DONE;

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

/// Every pooled connection waits on a lock another client holds: a request past the pool answers
/// 503 once `BATON_DB_ACQUIRE_TIMEOUT_MS` has passed, the waiting ones are ended by
/// `BATON_DB_STATEMENT_TIMEOUT_MS`, and the API answers again when the lock goes.
#[tokio::test(flavor = "multi_thread")]
async fn with_every_pool_connection_held_requests_answer_503_in_bounded_time_then_200_again() {
    if Backend::from_env() != Backend::Postgres {
        // SQLite: every connection has a busy timeout, and reads never wait for a writer (WAL);
        // `baton-sqlite`'s `a_lock_held_past_the_busy_timeout_is_unavailable` shows the bound.
        return;
    }
    let app = TestApp::spawn_with(&[
        ("BATON_DB_POOL_SIZE", "2"),
        ("BATON_DB_ACQUIRE_TIMEOUT_MS", "300"),
        ("BATON_DB_STATEMENT_TIMEOUT_MS", "3000"),
        ("BATON_WORKERS", "0"),
    ])
    .await;
    let wf = app
        .create_workflow(&json!({"name": "held", "start": false,
            "tasks": [{"type": "transform", "input": {"jq": "."}}]}))
        .await;
    let path = format!("/api/workflows/{}", id_of(&wf));
    let lock = app.database.lock_workflows_table().await;

    // Two requests take both connections and wait on the lock.
    let held: Vec<_> = (0..2)
        .map(|_| {
            let request = app.client.get(app.url(&path));
            tokio::spawn(async move { request.send().await.map(|r| r.status()) })
        })
        .collect();
    wait_until(
        "both pooled connections wait on the lock",
        LIMIT,
        || async { lock.waiting().await >= 2 },
    )
    .await;
    for _ in 0..3 {
        let answer = tokio::time::timeout(LIMIT, app.get(&path))
            .await
            .expect("an answer, not a hang");
        let body = expect_status(answer, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["code"], "UNAVAILABLE", "{body}");
    }
    // The statement timeout ends the waiting ones, though the lock is still held.
    for request in held {
        let status = tokio::time::timeout(LIMIT, request)
            .await
            .expect("the waiting request answered")
            .unwrap()
            .expect("a response");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    lock.release().await;
    wait_until("the API answers again", LIMIT, || async {
        app.get(&path).await.status() == StatusCode::OK
    })
    .await;
    // Writes too.
    app.create_workflow(&json!({"name": "after", "start": false,
        "tasks": [{"type": "transform", "input": {"jq": "."}}]}))
        .await;
}

/// Idle event streams held open on one instance (one per `BATON_SSE_PER_CALLER` slot).
const STREAMS: usize = 2_000;

/// 2,000 idle event streams on loopback: ordinary requests still answer, a workflow still runs
/// to completion, and the streams still deliver its events.
#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_idle_event_streams_do_not_stop_the_api() {
    // Each stream is two sockets in this process (the client's and the server's).
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(
        files >= 3 * STREAMS as u64,
        "the open-file limit ({files}) is too low for {STREAMS} streams: raise the hard limit"
    );
    let app = TestApp::spawn_with(&[("BATON_SSE_PER_CALLER", "5000")]).await;
    // Not started: their streams stay open, idle.
    let mut idle = Vec::new();
    for i in 0..20 {
        let wf = app
            .create_workflow(&json!({"name": format!("idle {i}"), "start": false,
                "tasks": [{"type": "transform", "input": {"jq": "{done: true}"}}]}))
            .await;
        idle.push(id_of(&wf).to_owned());
    }
    let streams: Vec<(usize, reqwest::Response)> = futures_util::stream::iter(0..STREAMS)
        .map(|n| {
            let workflow = n % idle.len();
            let path = format!("/api/workflows/{}/events", idle[workflow]);
            let app = &app;
            async move { (workflow, app.get(&path).await) }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for (_, stream) in &streams {
        assert_eq!(stream.status(), StatusCode::OK);
    }

    // Ordinary requests answer while they are open.
    let bounded = Duration::from_secs(10);
    let read = tokio::time::timeout(bounded, app.get(&format!("/api/workflows/{}", idle[1])))
        .await
        .expect("a read answered");
    expect_status(read, StatusCode::OK).await;
    let run = app
        .create_workflow(&json!({"name": "busy", "start": true,
            "tasks": [{"type": "transform", "input": {"jq": "{ok: true}"}}]}))
        .await;
    let done = app.wait_for_workflow(id_of(&run), DONE, LIMIT).await;
    assert_eq!(done["status"], "completed", "{done}");

    // The streams still deliver: start one idle workflow, every stream on it ends with its end.
    let (followers, others): (Vec<_>, Vec<_>) = streams.into_iter().partition(|(w, _)| *w == 0);
    assert_eq!(followers.len(), STREAMS / idle.len());
    let started = app
        .post_json(&format!("/api/workflows/{}/start", idle[0]), &json!({}))
        .await;
    assert!(started.status().is_success(), "{}", started.status());
    let ends = futures_util::future::join_all(
        followers
            .into_iter()
            .map(|(_, stream)| sse::collect(stream, LIMIT)),
    )
    .await;
    for events in ends {
        assert_eq!(
            events.last().unwrap().event,
            "workflow.completed",
            "{events:?}"
        );
    }
    drop(others);
}
