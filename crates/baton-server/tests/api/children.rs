//! Child workflows: a `workflow` task starts a workflow of its own, waits for it durably and
//! takes its output; a failed child fails the task (its retry policy applies); cancelling the
//! parent cancels the child.

use std::time::Duration;

use baton_testkit::{Api, TestApp, expect_status, sse};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};

fn child_task(tasks: Value, retry: Value) -> Value {
    json!({"key": "sub", "type": "workflow", "retry": retry, "input": {
        "name": "child of {{ workflow.name }}",
        "input": {"x": "{{ input.n }}"},
        "tasks": tasks
    }})
}

async fn child_of(app: &TestApp, parent: &Value) -> Value {
    let id = parent["tasks"][0]["child_workflow_id"]
        .as_str()
        .expect("the task names its child");
    expect_status(
        app.get(&format!("/api/workflows/{id}")).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_workflow_runs_and_feeds_its_parent() {
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(&json!({
            "name": "parent", "start": true, "input": {"n": 4},
            "tasks": [
                child_task(json!([{"type": "transform", "input": {"jq": ".input.x * 2"}}]), json!({})),
                {"type": "transform", "input": {"jq": ".prev + 1"}}
            ]
        }))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["tasks"][0]["output"], 8);
    assert_eq!(done["output"], 9);

    let child = child_of(&app, &done).await;
    assert_eq!(child["status"], "completed");
    assert_eq!(child["name"], "child of parent");
    assert_eq!(child["input"], json!({"x": 4}));
    assert_eq!(child["parent_id"], done["id"]);
    assert_eq!(child["parent_task_id"], done["tasks"][0]["id"]);
    // Its own event stream, ending with its completion.
    let child_id = id_of(&child);
    let response = app
        .request(
            reqwest::Method::GET,
            &format!("/api/workflows/{child_id}/events"),
        )
        .send()
        .await
        .unwrap();
    let events = sse::collect(response, WAIT).await;
    assert_eq!(events.last().unwrap().event, "workflow.completed");
    let started = app.events_of_type("task.child_started").await;
    assert_eq!(started[0]["child_workflow_id"], child["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_the_parent_cancels_the_child() {
    let target = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&target)
        .await;
    let app = TestApp::spawn().await;
    let slow = json!([{"type": "fetch", "input": {"url": format!("{}/slow", target.uri())}}]);
    let wf = app
        .create_workflow(&json!({
            "name": "parent", "start": true, "input": {"n": 1},
            "tasks": [child_task(slow, json!({}))]
        }))
        .await;
    let id = id_of(&wf);
    baton_testkit::wait_until("the child's task is running", WAIT, || async {
        !target.received_requests().await.unwrap().is_empty()
    })
    .await;
    let running = expect_status(
        app.get(&format!("/api/workflows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    let child = child_of(&app, &running).await;
    assert_eq!(child["status"], "running");
    let cancel = app
        .post_json(&format!("/api/workflows/{id}/cancel"), &json!({}))
        .await;
    expect_status(cancel, StatusCode::ACCEPTED).await;
    let child = app.wait_for_workflow(id_of(&child), DONE, WAIT).await;
    assert_eq!(child["status"], "cancelled", "{child}");
    assert_eq!(child["tasks"][0]["status"], "cancelled");
    let parent = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(parent["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_child_fails_the_task_and_its_retry_starts_a_new_child() {
    let target = MockServer::start().await;
    let broken = Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(400).set_body_string("no"))
        .up_to_n_times(1)
        .mount_as_scoped(&target)
        .await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&target)
        .await;
    let app = TestApp::spawn().await;
    let fetch = json!([{"type": "fetch", "input": {"url": format!("{}/x", target.uri())},
                        "retry": {"max_attempts": 1}}]);
    let wf = app
        .create_workflow(&json!({
            "name": "parent", "start": true, "input": {"n": 1},
            "tasks": [child_task(fetch, json!({"max_attempts": 2, "initial_ms": 20, "max_ms": 50}))]
        }))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    drop(broken);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["tasks"][0]["attempt"], 2, "{done}");
    assert_eq!(done["output"]["body"], json!({"ok": true}));
    let all = expect_status(app.get("/api/workflows?limit=10").await, StatusCode::OK).await;
    let children: Vec<&Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["parent_id"] == done["id"])
        .collect();
    let mut statuses: Vec<&str> = children
        .iter()
        .map(|w| w["status"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["completed", "failed"], "one child per attempt");
    let retrying = app.events_of_type("task.retrying").await;
    let message = retrying[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("child workflow") && message.contains("failed"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_with_a_mistake_is_refused_at_creation_where_it_is() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    let bad = json!([{"type": "transform", "input": {"jq": ".input.x"}},
                     {"type": "fetch", "input": {"url": "{{ steps.nope.output }}"}}]);
    let response = app
        .post_json(
            "/api/workflows",
            &json!({"name": "p", "tasks": [child_task(bad, json!({}))]}),
        )
        .await;
    let error = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error["details"]["fields"][0]["field"], "tasks[0].input.tasks[1].input.url",
        "{error}"
    );
    let empty = app
        .post_json(
            "/api/workflows",
            &json!({"name": "p", "tasks": [
                {"type": "workflow", "input": {"tasks": []}}
            ]}),
        )
        .await;
    let error = expect_status(empty, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error["details"]["fields"][0]["field"], "tasks[0].input.tasks",
        "{error}"
    );
    assert_eq!(app.snapshot().await, before);
}
