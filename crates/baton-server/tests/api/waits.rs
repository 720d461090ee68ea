//! Durable time and human input: `sleep` holds no worker and wakes at its time (once, across a
//! kill -9); `wait` resumes with the body of the signal POSTed for it, sent early or late,
//! through any instance, consumed once; its time-out fails or continues as configured.

use std::time::Duration;

use baton_testkit::{Api, BatonProcess, TestApp, TestDatabase, expect_status};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_fields, id_of};
use crate::runs::{DONE, WAIT};

const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// Workers look for work every 100 ms when nothing wakes them (a sleep's end wakes nothing).
const POLL: [(&str, &str); 1] = [("BATON_POLL_MS", "100")];

fn wait_for(signal: &str) -> Value {
    json!({"key": "approve", "type": "wait", "input": {"signal": signal}})
}

async fn tasks_of(app: &impl Api, id: &str) -> Vec<Value> {
    let page = expect_status(
        app.get(&format!("/api/workflows/{id}/tasks?limit=100"))
            .await,
        StatusCode::OK,
    )
    .await;
    page["data"].as_array().unwrap().clone()
}

/// Polls until the workflow's task keyed `key` is parked (queued, waiting, no worker).
async fn until_waiting(app: &impl Api, id: &str, key: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let tasks = tasks_of(app, id).await;
        let task = tasks.into_iter().find(|t| t["key"] == key).unwrap();
        if task["status"] == "queued" && task["waiting_since"].is_string() {
            return task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {key} never waited: {task}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn signal(app: &impl Api, id: &str, name: &str, body: &Value) -> reqwest::Response {
    app.post_json(&format!("/api/workflows/{id}/signals/{name}"), body)
        .await
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("a time, got {value}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_resumes_when_its_signal_arrives_through_another_instance() {
    let app = TestApp::spawn_with(&POLL).await;
    let wf = app
        .create_workflow(&json!({
            "name": "approval", "start": true,
            "tasks": [
                {"key": "draft", "type": "transform", "input": {"jq": "\"a draft\""}},
                wait_for("approval"),
                {"key": "publish", "type": "transform",
                 "input": {"jq": "{draft: .steps.draft.output, by: .prev.by}"}}
            ]
        }))
        .await;
    let id = id_of(&wf);
    let parked = until_waiting(&app, id, "approve").await;
    assert_eq!(
        parked["wake_at"],
        Value::Null,
        "no time-out: only its signal wakes it"
    );
    assert_eq!(parked["lease_owner"], Value::Null, "it holds no worker");

    let other = app.sibling(&POLL).await;
    let response = signal(&other, id, "approval", &json!({"by": "ana"})).await;
    let sent = expect_status(response, StatusCode::ACCEPTED).await;
    assert_eq!(sent["name"], "approval");
    assert_eq!(sent["payload"], json!({"by": "ana"}));
    assert_eq!(sent["consumed_by_task_id"], Value::Null);

    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!({"draft": "a draft", "by": "ana"}));
    assert_eq!(done["tasks"][1]["output"], json!({"by": "ana"}));
    let listed = expect_status(
        app.get(&format!("/api/workflows/{id}/signals")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        listed["data"][0]["consumed_by_task_id"],
        done["tasks"][1]["id"]
    );
    let types: Vec<String> = app.events(id).await.into_iter().map(|(t, _)| t).collect();
    let waiting = types.iter().position(|t| t == "task.waiting").unwrap();
    let received = types.iter().position(|t| t == "signal.received").unwrap();
    assert!(waiting < received, "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "task.waiting").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_sent_early_is_kept_and_each_is_consumed_once() {
    let app = TestApp::spawn_with(&POLL).await;
    let wf = app
        .create_workflow(&json!({
            "name": "two approvals",
            "tasks": [
                wait_for("ok"),
                {"key": "again", "type": "wait", "input": {"signal": "ok"}}
            ]
        }))
        .await;
    let id = id_of(&wf);
    // Pending: not started yet, it keeps the signal for its wait.
    expect_status(
        signal(&app, id, "ok", &json!(1)).await,
        StatusCode::ACCEPTED,
    )
    .await;
    expect_status(
        app.post_json(&format!("/api/workflows/{id}/start"), &json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    // The first wait takes the early signal; the second finds none left and waits.
    let second = until_waiting(&app, id, "again").await;
    let tasks = tasks_of(&app, id).await;
    let first = tasks.iter().find(|t| t["key"] == "approve").unwrap();
    assert_eq!(first["status"], "completed");
    assert_eq!(first["output"], 1);
    assert_eq!(second["status"], "queued");

    expect_status(
        signal(&app, id, "ok", &json!(2)).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_signal_posted_twice_under_one_key_completes_one_wait() {
    let app = TestApp::spawn_with(&POLL).await;
    let wf = app
        .create_workflow(&json!({
            "name": "once", "start": true,
            "tasks": [
                wait_for("go"),
                {"key": "second", "type": "wait", "input": {"signal": "go"}}
            ]
        }))
        .await;
    let id = id_of(&wf);
    until_waiting(&app, id, "approve").await;
    let path = format!("/api/workflows/{id}/signals/go");
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = app
            .request(reqwest::Method::POST, &path)
            .header("Idempotency-Key", "send-go-1")
            .json(&json!({"n": 1}))
            .send()
            .await
            .unwrap();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        answers.push((
            expect_status(response, StatusCode::ACCEPTED).await,
            replayed,
        ));
    }
    assert_eq!(
        answers[0].0["id"], answers[1].0["id"],
        "the replay is the same signal"
    );
    assert!(
        !answers[0].1 && answers[1].1,
        "the second answer is a replay"
    );
    let second = until_waiting(&app, id, "second").await;
    assert_eq!(second["status"], "queued", "the second wait got nothing");
    let listed = expect_status(
        app.get(&format!("/api/workflows/{id}/signals")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    let workflow = expect_status(
        app.get(&format!("/api/workflows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(workflow["status"], "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_time_out_fails_or_continues_as_configured() {
    let app = TestApp::spawn_with(&POLL).await;
    let fails = app
        .create_workflow(&json!({
            "name": "strict", "start": true,
            "tasks": [{"type": "wait", "input": {"signal": "approval", "timeout_ms": 300}}]
        }))
        .await;
    let continues = app
        .create_workflow(&json!({
            "name": "lenient", "start": true,
            "tasks": [
                {"type": "wait", "input": {"signal": "approval", "timeout_ms": 300,
                                           "on_timeout": "continue", "default": {"approved": false}}},
                {"type": "transform", "input": {"jq": ".prev.approved"}}
            ]
        }))
        .await;
    let failed = app.wait_for_workflow(id_of(&fails), DONE, WAIT).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["kind"], "timeout");
    assert_eq!(
        failed["tasks"][0]["attempt"], 1,
        "a time-out is not retried"
    );
    let done = app.wait_for_workflow(id_of(&continues), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["tasks"][0]["output"], json!({"approved": false}));
    assert_eq!(done["output"], false);
    // Finished: it takes no more signals.
    let late = signal(&app, id_of(&done), "approval", &json!(true)).await;
    let body = expect_status(late, StatusCode::CONFLICT).await;
    assert!(
        body["error"].as_str().unwrap().contains("finished"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sleeping_runs_hold_no_worker_and_wake_at_their_time() {
    let app = TestApp::spawn_with(&[("BATON_WORKERS", "2"), POLL[0]]).await;
    let mut sleepers = Vec::new();
    for i in 0..6 {
        let wf = app
            .create_workflow(&json!({
                "name": format!("sleeper {i}"), "start": true, "input": {"ms": 1500},
                "tasks": [
                    {"key": "nap", "type": "sleep", "input": {"for_ms": "{{ input.ms }}"}},
                    {"type": "transform", "input": {"jq": ".prev.until"}}
                ]
            }))
            .await;
        sleepers.push(id_of(&wf).to_owned());
    }
    for id in &sleepers {
        until_waiting(&app, id, "nap").await;
    }
    // Six sleep on two workers, and other work still runs meanwhile.
    let busy = app
        .create_workflow(&json!({
            "name": "busy", "start": true,
            "tasks": [{"type": "transform", "input": {"jq": "1"}}, {"type": "transform", "input": {"jq": ".prev + 1"}}]
        }))
        .await;
    let busy = app.wait_for_workflow(id_of(&busy), DONE, WAIT).await;
    assert_eq!(busy["status"], "completed");
    let busy_done = time(&busy["finished_at"]);
    for id in &sleepers {
        let done = app.wait_for_workflow(id, DONE, WAIT).await;
        assert_eq!(done["status"], "completed", "{done}");
        let nap = &done["tasks"][0];
        let wake = time(&nap["wake_at"]);
        let woke = time(&nap["finished_at"]);
        assert!(busy_done < wake, "other work finished while they slept");
        assert!(woke >= wake, "never early: woke {woke}, due {wake}");
        assert!(
            woke - wake < chrono::Duration::seconds(1),
            "wakes within a second of its time: woke {woke}, due {wake}"
        );
        assert_eq!(done["output"], nap["wake_at"]);
        assert_eq!(nap["attempt"], 1, "a sleep is one attempt");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_sleeping_run_is_immediate() {
    let app = TestApp::spawn_with(&POLL).await;
    let wf = app
        .create_workflow(&json!({
            "name": "long nap", "start": true,
            "tasks": [{"key": "nap", "type": "sleep", "input": {"for_ms": 3_600_000}}]
        }))
        .await;
    let id = id_of(&wf);
    until_waiting(&app, id, "nap").await;
    let cancelled = expect_status(
        app.post_json(&format!("/api/workflows/{id}/cancel"), &json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["tasks"][0]["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_while_sleeping_the_run_wakes_once() {
    let target = MockServer::start().await;
    Mock::given(path("/after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&target)
        .await;
    let db = TestDatabase::new();
    let vars = [("BATON_POLL_MS", "100"), ("BATON_LEASE_MS", "2000")];
    let mut first = BatonProcess::start(BATON, &db.url, &vars).await;
    let wf = first
        .create_workflow(&json!({
            "name": "nap then call", "start": true,
            "tasks": [
                {"key": "nap", "type": "sleep", "input": {"for_ms": 2000}},
                {"type": "fetch", "input": {"url": format!("{}/after", target.uri())}}
            ]
        }))
        .await;
    let id = id_of(&wf).to_owned();
    until_waiting(&first, &id, "nap").await;
    first.kill9();

    let second = BatonProcess::start(BATON, &db.url, &vars).await;
    let done = second.wait_for_workflow(&id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        target.received_requests().await.unwrap().len(),
        1,
        "the call after the sleep ran once"
    );
    let nap = &done["tasks"][0];
    assert_eq!(nap["status"], "completed");
    assert_eq!(nap["attempt"], 1, "woken once, not re-run: {nap}");
    assert!(
        time(&nap["finished_at"]) >= time(&nap["wake_at"]),
        "not early: {nap}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sleeps_waits_and_signals_are_refused() {
    let app = TestApp::spawn().await;
    for (input, kind, field) in [
        (json!({}), "sleep", "tasks[0].input"),
        (json!({"for_ms": -5}), "sleep", "tasks[0].input.for_ms"),
        (
            json!({"until": "next tuesday"}),
            "sleep",
            "tasks[0].input.until",
        ),
        (
            json!({"signal": "has space"}),
            "wait",
            "tasks[0].input.signal",
        ),
        (
            json!({"signal": "{{ input.name }}"}),
            "wait",
            "tasks[0].input.signal",
        ),
        (
            json!({"signal": "a", "timeout_ms": 5, "on_timeout": "shrug"}),
            "wait",
            "tasks[0].input.on_timeout",
        ),
    ] {
        let response = app
            .post_json(
                "/api/workflows",
                &json!({"name": "bad", "tasks": [{"type": kind, "input": input}]}),
            )
            .await;
        let body = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let fields = error_fields(&body);
        assert!(fields.contains(&field), "{input}: {body}");
    }
    assert_eq!(app.count("workflows").await, 0, "nothing was stored");

    let wf = app
        .create_workflow(&json!({"name": "w", "tasks": [wait_for("approval")]}))
        .await;
    let id = id_of(&wf);
    let odd = signal(&app, id, "a%20b", &json!(1)).await;
    let body = expect_status(odd, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["details"]["fields"][0]["field"], "name", "{body}");
    let unknown = signal(
        &app,
        "00000000-0000-0000-0000-000000000001",
        "approval",
        &json!(1),
    )
    .await;
    expect_status(unknown, StatusCode::NOT_FOUND).await;
    let listed = expect_status(
        app.get(&format!("/api/workflows/{id}/signals")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"], json!([]), "nothing was kept");
}
