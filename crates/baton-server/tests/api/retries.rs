//! Failures: backoff, Retry-After, permanent errors, exhausted attempts and /retry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};

fn fetch_workflow(url: &str, retry: serde_json::Value) -> serde_json::Value {
    json!({
        "name": "fetch",
        "start": true,
        "tasks": [{"key": "call", "type": "fetch", "input": {"url": url}, "retry": retry}]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_twice_then_200_is_retried_with_backoff() {
    let app = TestApp::spawn().await;
    let target = MockServer::start().await;
    Mock::given(path("/flaky"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&target)
        .await;
    Mock::given(path("/flaky"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .with_priority(2)
        .mount(&target)
        .await;

    let wf = app
        .create_workflow(&fetch_workflow(
            &format!("{}/flaky", target.uri()),
            json!({"max_attempts": 5, "initial_ms": 100, "max_ms": 300}),
        ))
        .await;
    let id = id_of(&wf);
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["tasks"][0]["attempt"], 3);
    assert_eq!(done["output"]["body"], json!({"ok": true}));
    assert_eq!(target.received_requests().await.unwrap().len(), 3);

    let retrying: Vec<_> = app
        .events(id)
        .await
        .into_iter()
        .filter(|(t, _)| t == "task.retrying")
        .collect();
    assert_eq!(retrying.len(), 2);
    assert_eq!(retrying[0].1["error"]["status"], 503);
    assert!(retrying[0].1["retry_at"].is_string());
}

/// Answers 429 with `Retry-After: 2` once, then 200, noting when each request came.
struct RateLimited {
    seen: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for RateLimited {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "2")
                .set_body_string("slow down")
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"ok": true}))
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_with_retry_after_is_not_retried_sooner() {
    let app = TestApp::spawn().await;
    let target = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(path("/limited"))
        .respond_with(RateLimited { seen: seen.clone() })
        .mount(&target)
        .await;

    let wf = app
        .create_workflow(&fetch_workflow(
            &format!("{}/limited", target.uri()),
            json!({"max_attempts": 3, "initial_ms": 10, "max_ms": 20}),
        ))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let gap = seen[1] - seen[0];
    assert!(
        gap >= Duration::from_secs(2),
        "retried after {gap:?}, before Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_400_fails_at_once() {
    let app = TestApp::spawn().await;
    let target = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "bad city"})))
        .mount(&target)
        .await;
    let wf = app
        .create_workflow(&fetch_workflow(
            &format!("{}/x", target.uri()),
            json!({"max_attempts": 5}),
        ))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "failed");
    let error = &done["tasks"][0]["error"];
    assert_eq!(error["status"], 400);
    assert_eq!(error["retryable"], false);
    assert!(
        error["message"].as_str().unwrap().contains("bad city"),
        "{error}"
    );
    assert_eq!(done["tasks"][0]["attempt"], 1);
    assert_eq!(target.received_requests().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_attempts_fail_the_workflow_and_retry_resumes_without_rerunning() {
    let app = TestApp::spawn().await;
    let first = MockServer::start().await;
    Mock::given(path("/first"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"n": 1})))
        .mount(&first)
        .await;
    let second = MockServer::start().await;
    Mock::given(path("/second"))
        .respond_with(ResponseTemplate::new(500).set_body_string("down"))
        .mount(&second)
        .await;

    let wf = app
        .create_workflow(&json!({
            "name": "resumable",
            "start": true,
            "tasks": [
                {"type": "fetch", "input": {"url": format!("{}/first", first.uri())}},
                {"type": "fetch", "input": {"url": format!("{}/second", second.uri())},
                 "retry": {"max_attempts": 2, "initial_ms": 50, "max_ms": 50}},
                {"type": "store", "input": {"collection": "results", "document": "{{ prev.body }}"}}
            ]
        }))
        .await;
    let id = id_of(&wf);
    let failed = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["position"], 1);
    assert_eq!(failed["tasks"][0]["status"], "completed");
    assert_eq!(failed["tasks"][1]["status"], "failed");
    assert_eq!(failed["tasks"][1]["attempt"], 2);
    assert_eq!(failed["tasks"][2]["status"], "pending");
    assert_eq!(second.received_requests().await.unwrap().len(), 2);

    // The dependency recovers; retry resumes from the failed task.
    second.reset().await;
    Mock::given(path("/second"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"n": 2})))
        .mount(&second)
        .await;
    let response = app
        .post_json(&format!("/api/workflows/{id}/retry"), &json!({}))
        .await;
    let resumed = expect_status(response, StatusCode::ACCEPTED).await;
    assert_eq!(resumed["status"], "running");
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["output"]["document_id"],
        done["tasks"][2]["output"]["document_id"]
    );
    assert_eq!(
        first.received_requests().await.unwrap().len(),
        1,
        "completed tasks never re-run"
    );
    assert_eq!(second.received_requests().await.unwrap().len(), 1);
    assert_eq!(done["tasks"][1]["attempt"], 1, "a fresh attempt budget");
    assert_eq!(app.count("documents").await, 1);
}

/// A fetch target that never answers: it reports when a request arrived and when the client
/// gave up (closed the connection).
async fn hanging_target() -> (String, Arc<Notify>, Arc<Notify>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    let (received, closed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (on_request, on_close) = (received.clone(), closed.clone());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0_u8; 8192];
        let mut seen = Vec::new();
        loop {
            let read = socket.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..read]);
            if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                on_request.notify_one();
            }
        }
        on_close.notify_one();
    });
    (url, received, closed)
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_during_a_running_task_discards_its_late_result() {
    let app = TestApp::spawn().await;
    let (url, received, closed) = hanging_target().await;
    let wf = app
        .create_workflow(&json!({
            "name": "cancel me",
            "start": true,
            "tasks": [
                {"type": "fetch", "input": {"url": url}},
                {"type": "store", "input": {"collection": "never", "document": {}}}
            ]
        }))
        .await;
    let id = id_of(&wf);
    tokio::time::timeout(WAIT, received.notified())
        .await
        .expect("the fetch is in flight");
    let cancelled = expect_status(
        app.post_json(&format!("/api/workflows/{id}/cancel"), &json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(
        cancelled["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "cancelled")
    );

    // The running attempt is abandoned at once: its worker hangs up on the target.
    tokio::time::timeout(WAIT, closed.notified())
        .await
        .expect("the worker stops waiting for the cancelled task's answer");
    let after = expect_status(
        app.get(&format!("/api/workflows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["tasks"][0]["status"], "cancelled");
    assert!(
        after["tasks"][0]["output"].is_null(),
        "the late result was discarded"
    );
    assert_eq!(app.count("documents").await, 0);
    let events: Vec<String> = app.events(id).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        events,
        ["workflow.started", "task.started", "workflow.cancelled"]
    );
}
