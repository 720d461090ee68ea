//! What only a run can tell is strict too: a reference that resolves to nothing fails the task
//! for good, naming it (unless `default` says what to use), and jq errors are sentences.

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn a_reference_to_nothing_at_run_time_fails_the_task_for_good_naming_it() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "missing input", "input": {"q": 1}, "start": true, "tasks": [
                {"type": "store", "input": {"collection": "c", "document": {"x": "{{ input.qq }}"}}}
            ]}),
            &[
                "input.document.x",
                "`input.qq`",
                "no field \"qq\" (it has: q)",
                "default(null)",
            ][..],
        ),
        (
            json!({"name": "attribute of null", "start": true, "tasks": [
                {"type": "transform", "input": {"jq": "{a: null}"}},
                {"type": "store", "input": {"collection": "c", "document": "text {{ prev.a.b }}"}}
            ]}),
            &["input.document", "`prev.a.b`", "`prev.a` is null"][..],
        ),
    ];
    for (body, says) in cases {
        let wf = app.create_workflow(&body).await;
        let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
        assert_eq!(done["status"], "failed", "{done}");
        let task = done["tasks"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(task["status"], "failed");
        assert_eq!(task["attempt"], 1, "not retried");
        let error = &task["error"];
        assert_eq!(
            (error["kind"].as_str(), error["retryable"].as_bool()),
            (Some("template"), Some(false))
        );
        let message = error["message"].as_str().unwrap();
        for part in says {
            assert!(message.contains(part), "{part:?} not in {message:?}");
        }
        assert_eq!(done["error"]["message"], error["message"]);
    }
    assert_eq!(app.count("documents").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn default_makes_a_missing_value_explicit() {
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(&json!({"name": "optional", "input": {"q": 1}, "start": true, "tasks": [
            {"type": "store", "input": {"collection": "c", "document": {"x": "{{ input.qq | default(null) }}", "q": "{{ input.q }}"}}}
        ]}))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["tasks"][0]["resolved_input"]["document"],
        json!({"x": null, "q": 1})
    );
    let documents =
        expect_status(app.get("/api/documents?collection=c").await, StatusCode::OK).await;
    assert_eq!(documents["data"][0]["data"], json!({"x": null, "q": 1}));
}

#[tokio::test(flavor = "multi_thread")]
async fn jq_errors_at_run_time_are_sentences() {
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(
            &json!({"name": "jq fails", "input": {"a": 1}, "start": true, "tasks": [
                {"type": "transform", "input": {"jq": ".input.a | .b"}}
            ]}),
        )
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    let error = &done["tasks"][0]["error"];
    assert_eq!(
        (error["kind"].as_str(), error["retryable"].as_bool()),
        (Some("jq"), Some(false))
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with("the jq program failed: "), "{message}");
    assert!(
        !message.contains("Error {") && !message.contains("Val("),
        "{message}"
    );
}
