//! Fetch targets that answer what no store can keep, too much, forever, or nothing at all.

use baton_testkit::{Api, TestApp};
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::raw_server::{Misbehaviour, RawServer};
use super::{LIMIT, read_back};
use crate::helpers::id_of;
use crate::runs::DONE;

/// A workflow of one fetch of `url` (at most two attempts, each of at most 2 s) then a store of
/// what it answered.
fn fetch_then_store(url: &str) -> Value {
    json!({
        "name": "hostile",
        "start": true,
        "tasks": [
            {"key": "get", "type": "fetch", "input": {"url": url, "timeout_ms": 2000},
             "retry": {"max_attempts": 2, "initial_ms": 50, "max_ms": 100}},
            {"key": "keep", "type": "store",
             "input": {"collection": "hostile", "document": {"body": "{{ prev.body }}"}}}
        ]
    })
}

/// Runs the workflow to its end and reads it back: its tasks.
async fn run(app: &TestApp, url: &str, status: &str) -> Vec<Value> {
    let wf = app.create_workflow(&fetch_then_store(url)).await;
    let id = id_of(&wf);
    let done = app.wait_for_workflow(id, DONE, LIMIT).await;
    assert_eq!(done["status"], status, "{done}");
    read_back(app, id, status).await
}

async fn mock(body: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/x"))
        .respond_with(body)
        .mount(&server)
        .await;
    server
}

async fn hits(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_in_json_text_and_keys_are_kept_replaced() {
    let app = TestApp::spawn().await;
    let json_nul = mock(ResponseTemplate::new(200).set_body_raw(
        r#"{"v": "a\u0000b", "k\u0000": 1}"#.as_bytes().to_vec(),
        "application/json",
    ))
    .await;
    let tasks = run(&app, &format!("{}/x", json_nul.uri()), "completed").await;
    assert_eq!(
        tasks[0]["output"]["body"],
        json!({"v": "a\u{FFFD}b", "k\u{FFFD}": 1})
    );
    assert_eq!(tasks[0]["attempt"], 1);
    assert_eq!(
        hits(&json_nul).await,
        1,
        "a completed step is not run again"
    );

    let raw_nul =
        mock(ResponseTemplate::new(200).set_body_raw(b"x\0y".to_vec(), "text/plain")).await;
    let tasks = run(&app, &format!("{}/x", raw_nul.uri()), "completed").await;
    assert_eq!(tasks[0]["output"]["body"], "x\u{FFFD}y");
    assert_eq!(
        app.count("documents").await,
        2,
        "each store task one document"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_is_kept_as_replacement_characters() {
    let app = TestApp::spawn().await;
    for content_type in ["text/plain", "application/json"] {
        let server = mock(
            ResponseTemplate::new(200).set_body_raw(b"ok \xff\xfe\xc3 end".to_vec(), content_type),
        )
        .await;
        let tasks = run(&app, &format!("{}/x", server.uri()), "completed").await;
        assert_eq!(
            tasks[0]["output"]["body"], "ok \u{FFFD}\u{FFFD}\u{FFFD} end",
            "{content_type}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_nested_deeper_than_a_store_reads_back_fails_for_good() {
    let app = TestApp::spawn().await;
    let deep = format!("{}1{}", "[".repeat(120), "]".repeat(120));
    let server =
        mock(ResponseTemplate::new(200).set_body_raw(deep.into_bytes(), "application/json")).await;
    let tasks = run(&app, &format!("{}/x", server.uri()), "failed").await;
    assert_eq!(
        tasks[0]["error"]["kind"], "output_too_large",
        "{}",
        tasks[0]
    );
    assert_eq!(tasks[0]["error"]["retryable"], false);
    assert_eq!(hits(&server).await, 1, "a permanent failure is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_12_mib_body_fails_for_good_without_a_retry() {
    let app = TestApp::spawn().await;
    let server =
        mock(ResponseTemplate::new(200).set_body_raw(vec![b'a'; 12 * 1024 * 1024], "text/plain"))
            .await;
    let tasks = run(&app, &format!("{}/x", server.uri()), "failed").await;
    let error = &tasks[0]["error"];
    assert_eq!(error["kind"], "output_too_large", "{error}");
    assert_eq!(error["retryable"], false);
    assert_eq!(tasks[0]["attempt"], 1);
    assert_eq!(hits(&server).await, 1);
    assert_eq!(app.count("documents").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_never_ends_fails_for_good_at_the_size_limit() {
    let app = TestApp::spawn().await;
    let server = RawServer::start(Misbehaviour::Endless).await;
    let tasks = run(&app, &server.url, "failed").await;
    assert_eq!(
        tasks[0]["error"]["kind"], "output_too_large",
        "{}",
        tasks[0]
    );
    assert_eq!(server.requests(), 1, "not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_times_out_and_is_retried_only_max_attempts_times() {
    let app = TestApp::spawn().await;
    let server = RawServer::start(Misbehaviour::Silent).await;
    let tasks = run(&app, &server.url, "failed").await;
    let error = &tasks[0]["error"];
    assert_eq!(error["kind"], "timeout", "{error}");
    assert_eq!(tasks[0]["attempt"], 2);
    assert_eq!(server.requests(), 2, "max_attempts is 2");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_body_with_nul_is_kept_in_the_error_replaced() {
    let app = TestApp::spawn().await;
    let server =
        mock(ResponseTemplate::new(503).set_body_raw(b"down\0now".to_vec(), "text/plain")).await;
    let tasks = run(&app, &format!("{}/x", server.uri()), "failed").await;
    let message = tasks[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("down\u{FFFD}now"), "{message}");
    assert_eq!(
        hits(&server).await,
        2,
        "retried up to max_attempts, no more"
    );
    let failed = app.events_of_type("task.retrying").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
}
