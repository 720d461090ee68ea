//! Workflows run: outputs feed the next task, templates resolve, documents are stored.

use std::time::Duration;

use baton_testkit::{Api, TestApp, expect_status, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::id_of;

pub const DONE: &[&str] = &["completed", "failed", "cancelled"];
pub const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn fetch_transform_store_transform_feeds_each_output_to_the_next() {
    let app = TestApp::spawn().await;
    let target = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/weather"))
        .and(query_param("city", "Lyon"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"city": "Lyon", "temp_c": 20})),
        )
        .expect(1)
        .mount(&target)
        .await;

    let created = app
        .create_workflow(&json!({
            "name": "weather report",
            "input": {"base": target.uri(), "city": "Lyon"},
            "start": true,
            "tasks": [
                {"key": "weather", "type": "fetch", "input": {"url": "{{ input.base }}/weather?city={{ input.city }}"}},
                {"key": "convert", "type": "transform", "input": {"jq": "{city: .prev.body.city, temp_f: (.prev.body.temp_c * 9 / 5 + 32)}"}},
                {"key": "save", "type": "store", "input": {"collection": "reports", "document": {"report": "{{ prev }}", "source": "{{ steps.weather.output.status }}"}}},
                {"type": "transform", "input": {"jq": "{document: .steps.save.output.document_id, temp_f: .steps.convert.output.temp_f, workflow: .workflow.name}"}}
            ]
        }))
        .await;
    assert_eq!(created["status"], "running");
    let id = id_of(&created);
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");

    let tasks = done["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["output"]["status"], 200);
    assert_eq!(
        tasks[0]["output"]["body"],
        json!({"city": "Lyon", "temp_c": 20})
    );
    assert_eq!(
        tasks[0]["resolved_input"]["url"],
        format!("{}/weather?city=Lyon", target.uri()),
        "the resolved input is recorded"
    );
    assert_eq!(tasks[1]["output"], json!({"city": "Lyon", "temp_f": 68}));
    let document_id = tasks[2]["output"]["document_id"].as_str().unwrap();
    assert_eq!(
        done["output"],
        json!({"document": document_id, "temp_f": 68, "workflow": "weather report"})
    );
    assert!(
        tasks
            .iter()
            .all(|t| t["status"] == "completed" && t["attempt"] == 1)
    );
    assert!(done["finished_at"].is_string());
    assert_eq!(app.count("documents").await, 1);

    // The target saw the task id as the idempotency key.
    let requests = target.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers["idempotency-key"],
        tasks[0]["id"].as_str().unwrap()
    );

    let events: Vec<String> = app.events(id).await.into_iter().map(|(t, _)| t).collect();
    let mut expected = vec!["workflow.started".to_owned()];
    for _ in 0..4 {
        expected.push("task.started".into());
        expected.push("task.completed".into());
    }
    expected.push("workflow.completed".into());
    assert_eq!(events, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn start_queues_the_first_task_and_conflicts_are_409() {
    let app = TestApp::spawn().await;
    let empty = app.create_workflow(&json!({"name": "empty"})).await;
    let error = expect_status(
        app.post_json(
            &format!("/api/workflows/{}/start", id_of(&empty)),
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        error["error"].as_str().unwrap().contains("no tasks"),
        "{error}"
    );

    let wf = app
        .create_workflow(
            &json!({"name": "w", "tasks": [{"type": "transform", "input": {"jq": "1"}}]}),
        )
        .await;
    let id = id_of(&wf);
    let response = app
        .post_json(&format!("/api/workflows/{id}/start"), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["status"], "running");
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"], 1);

    for action in ["start", "retry", "cancel"] {
        let error = expect_status(
            app.post_json(&format!("/api/workflows/{id}/{action}"), &json!({}))
                .await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(error["code"], "CONFLICT", "{action}: {error}");
    }
    let missing = app
        .post_json(
            "/api/workflows/0193b2f4-0000-7000-8000-000000000000/start",
            &json!({}),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_jq_program_times_out_while_the_api_stays_responsive() {
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(&json!({
            "name": "loop",
            "start": true,
            "tasks": [{"type": "transform", "input": {"jq": "def f: f; f"}, "timeout_ms": 1500}]
        }))
        .await;
    let id = id_of(&wf);
    // While the program spins, the API answers.
    wait_until("the jq task is running", WAIT, || async {
        let workflow: Value = app
            .get(&format!("/api/workflows/{id}"))
            .await
            .json()
            .await
            .unwrap();
        workflow["tasks"][0]["status"] == "running"
    })
    .await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .expect("healthz answers while jq runs");
    assert_eq!(health.status(), StatusCode::OK);
    let running = expect_status(
        app.get(&format!("/api/workflows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(running["tasks"][0]["status"], "running");

    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "failed");
    let task = &done["tasks"][0];
    assert_eq!(task["error"]["kind"], "timeout");
    assert_eq!(task["attempt"], 1, "a deterministic timeout is not retried");
    assert!(
        task["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1500 ms")
    );
    assert_eq!(done["error"]["kind"], "timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn template_and_jq_errors_fail_the_task_for_good() {
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(&json!({
            "name": "bad template",
            "start": true,
            // Not `steps.missing`: an unknown step is refused at creation now (validation.rs);
            // a field of the input is only known missing when the task runs.
            "tasks": [{"type": "store", "input": {"collection": "c", "document": "{{ input.missing.output }}"}}]
        }))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["tasks"][0]["error"]["kind"], "template");
    assert_eq!(done["tasks"][0]["attempt"], 1);

    let wf = app
        .create_workflow(&json!({
            "name": "bad jq",
            "start": true,
            "tasks": [{"type": "transform", "input": {"jq": "error(\"no way\")"}}]
        }))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["tasks"][0]["error"]["kind"], "jq");
    assert!(
        done["tasks"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no way")
    );
    assert_eq!(app.count("documents").await, 0);
}
