//! Concurrency keys end to end: at most `limit` runs of a key at once, the others `queued` and
//! admitted in the order they were started; other keys unaffected; bad keys refused; queued
//! runs cancelled or re-queued by a retry; a fresh instance's sweep admits what a stopped one
//! left queued.

use std::time::Duration;

use baton_testkit::{Api, BatonProcess, TestApp, TestDatabase, expect_status, wait_until};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_fields, id_of};
use crate::runs::{DONE, WAIT};

const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// A target whose `/work` answers after `delay`.
async fn slow_target(delay: Duration) -> MockServer {
    let target = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/work"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true}))
                .set_delay(delay),
        )
        .mount(&target)
        .await;
    target
}

/// A started workflow of one fetch of `url`, keyed by its tenant with `limit`.
fn keyed_run(tenant: &str, i: usize, url: &str, limit: i64) -> Value {
    json!({
        "name": format!("{tenant}-{i}"),
        "input": {"tenant": tenant, "url": url},
        "start": true,
        "concurrency": {"key": "{{ input.tenant }}", "limit": limit},
        "tasks": [{"type": "fetch", "input": {"url": "{{ input.url }}"}}]
    })
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time: {value}"))
}

/// When a run's task started and finished.
fn span(workflow: &Value) -> (DateTime<Utc>, DateTime<Utc>) {
    let task = &workflow["tasks"][0];
    (time(&task["started_at"]), time(&task["finished_at"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_key_runs_one_at_a_time_in_order_while_another_key_runs_alongside() {
    let app = TestApp::spawn().await;
    let target = slow_target(Duration::from_millis(250)).await;
    let url = format!("{}/work", target.uri());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..10 {
        let created = app.create_workflow(&keyed_run("a", i, &url, 1)).await;
        assert_eq!(
            created["concurrency"],
            json!({"key": "a", "limit": 1}),
            "rendered"
        );
        a.push(id_of(&created).to_owned());
        if i < 5 {
            let created = app.create_workflow(&keyed_run("b", i, &url, 1)).await;
            b.push(id_of(&created).to_owned());
        }
    }

    // The last "a" run waits for nine others: it is listed as queued while it waits.
    let listed = expect_status(
        app.get("/api/workflows?status=queued&limit=100").await,
        StatusCode::OK,
    )
    .await;
    let queued: Vec<&Value> = listed["data"].as_array().unwrap().iter().collect();
    assert!(
        queued.iter().any(|w| w["id"] == a[9].as_str()),
        "the last run of a is queued: {listed}"
    );
    for workflow in &queued {
        assert_eq!(workflow["status"], "queued");
        assert!(
            workflow["started_at"].is_null(),
            "started only when admitted"
        );
        assert!(
            workflow["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["status"] == "pending"),
            "a queued run's tasks do not run: {workflow}"
        );
    }

    let mut runs_a = Vec::new();
    for id in &a {
        let done = app.wait_for_workflow(id, DONE, WAIT).await;
        assert_eq!(done["status"], "completed", "{done}");
        runs_a.push(span(&done));
    }
    let mut runs_b = Vec::new();
    for id in &b {
        let done = app.wait_for_workflow(id, DONE, WAIT).await;
        assert_eq!(done["status"], "completed", "{done}");
        runs_b.push(span(&done));
    }
    // In the order started, never two at once.
    for pair in runs_a.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "a run of a started before the one started before it finished: {pair:?}"
        );
    }
    // The other key did not wait for a's queue.
    let last_a_started = runs_a.last().unwrap().0;
    assert!(
        runs_b
            .iter()
            .any(|(_, finished)| *finished < last_a_started),
        "some run of b finished before the last run of a started: a {runs_a:?}, b {runs_b:?}"
    );
    for pair in runs_b.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "b has a limit of 1 too: {pair:?}");
    }

    let events: Vec<(String, Value)> = app.events(&a[9]).await;
    assert_eq!(
        events[0],
        ("workflow.queued".into(), json!({"key": "a", "limit": 1}))
    );
    assert_eq!(events[1].0, "workflow.started");
    let first: Vec<String> = app.events(&a[0]).await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        first[0], "workflow.started",
        "a free slot runs at once: {first:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_limits_and_key_templates_are_refused_and_create_nothing() {
    let app = TestApp::spawn().await;
    let body = |concurrency: Value| {
        json!({
            "name": "keyed",
            "input": {"tenant": "acme"},
            "concurrency": concurrency,
            "tasks": [{"key": "t", "type": "transform", "input": {"jq": "."}}]
        })
    };
    let before = app.snapshot().await;
    for (concurrency, field) in [
        (json!({"key": "a", "limit": 0}), "concurrency.limit"),
        (json!({"key": "a", "limit": 1001}), "concurrency.limit"),
        (json!({"key": "", "limit": 1}), "concurrency.key"),
        (
            json!({"key": "{{ steps.t.output }}", "limit": 1}),
            "concurrency.key",
        ),
        (
            json!({"key": "{{ input.tenant ", "limit": 1}),
            "concurrency.key",
        ),
    ] {
        for url in ["/api/workflows", "/api/workflows/validate"] {
            let refused = expect_status(
                app.post_json(url, &body(concurrency.clone())).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
            let fields = error_fields(&refused);
            assert_eq!(fields, [field], "{concurrency} at {url}: {refused}");
        }
    }
    // Rendered at the start: a key naming a missing field fails it, storing nothing.
    let mut missing = body(json!({"key": "{{ input.region }}", "limit": 1}));
    missing["start"] = json!(true);
    let refused = expect_status(
        app.post_json("/api/workflows", &missing).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["details"]["fields"][0]["field"], "concurrency.key");
    assert!(
        refused["details"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("input.region"),
        "{refused}"
    );
    assert_eq!(app.snapshot().await, before, "nothing was created");

    missing["start"] = json!(false);
    let pending = app.create_workflow(&missing).await;
    let id = id_of(&pending);
    let before = app.snapshot().await;
    expect_status(
        app.post_json(&format!("/api/workflows/{id}/start"), &json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(app.snapshot().await, before, "the start changed nothing");
    // Fixed while pending, it starts.
    let patched = expect_status(
        app.patch_json(
            &format!("/api/workflows/{id}"),
            &json!({"concurrency": {"key": "{{ input.tenant }}", "limit": 2}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        patched["concurrency"],
        json!({"key": "{{ input.tenant }}", "limit": 2})
    );
    let refused = expect_status(
        app.patch_json(
            &format!("/api/workflows/{id}"),
            &json!({"concurrency": {"key": "{{ prev }}", "limit": 2}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["details"]["fields"][0]["field"], "concurrency.key");
    let started = expect_status(
        app.post_json(&format!("/api/workflows/{id}/start"), &json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(started["concurrency"], json!({"key": "acme", "limit": 2}));
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_run_is_cancelled_at_once_and_never_runs() {
    let app = TestApp::spawn().await;
    let target = slow_target(Duration::from_millis(1_500)).await;
    let url = format!("{}/work", target.uri());
    let holder = app.create_workflow(&keyed_run("a", 0, &url, 1)).await;
    assert_eq!(holder["status"], "running");
    let waiting = app.create_workflow(&keyed_run("a", 1, &url, 1)).await;
    assert_eq!(waiting["status"], "queued");
    let id = id_of(&waiting);

    let cancelled = expect_status(
        app.post_json(&format!("/api/workflows/{id}/cancel"), &json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["tasks"][0]["status"], "cancelled");

    let done = app.wait_for_workflow(id_of(&holder), DONE, WAIT).await;
    assert_eq!(done["status"], "completed");
    let types: Vec<String> = app.events(id).await.into_iter().map(|e| e.0).collect();
    assert_eq!(types, ["workflow.queued", "workflow.cancelled"]);
    let again = expect_status(
        app.get(&format!("/api/workflows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        again["status"], "cancelled",
        "a freed slot admits nothing cancelled"
    );
    assert_eq!(
        target.received_requests().await.unwrap().len(),
        1,
        "only the holder's fetch was sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_of_a_failed_keyed_run_waits_for_a_slot() {
    let app = TestApp::spawn().await;
    let target = slow_target(Duration::from_millis(1_000)).await;
    Mock::given(method("GET"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "not yet"})))
        .up_to_n_times(1)
        .mount(&target)
        .await;
    Mock::given(method("GET"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&target)
        .await;
    let flaky = app
        .create_workflow(&keyed_run("a", 0, &format!("{}/flaky", target.uri()), 1))
        .await;
    let id = id_of(&flaky);
    let failed = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    let holder = app
        .create_workflow(&keyed_run("a", 1, &format!("{}/work", target.uri()), 1))
        .await;
    assert_eq!(holder["status"], "running");
    let retried = expect_status(
        app.post_json(&format!("/api/workflows/{id}/retry"), &json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(retried["status"], "queued", "the slot is taken: {retried}");
    assert!(retried["error"].is_null());

    let done = app
        .wait_for_workflow(id, &["completed", "failed", "cancelled"], WAIT)
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let holder_done = app.wait_for_workflow(id_of(&holder), DONE, WAIT).await;
    let (_, holder_finished) = span(&holder_done);
    assert!(
        time(&done["tasks"][0]["finished_at"]) >= holder_finished,
        "the retry ran after the holder"
    );
    let types: Vec<String> = app.events(id).await.into_iter().map(|e| e.0).collect();
    let from = types.iter().position(|t| t == "workflow.failed").unwrap();
    assert_eq!(
        types[from..from + 3],
        ["workflow.failed", "workflow.queued", "workflow.started"],
        "{types:?}"
    );
}

/// A stopped instance leaves a run queued behind one that has finished (here: ended in the
/// database while no instance was up, as a crash between a step and its admission would): the
/// sweep of a fresh instance admits it.
#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_instance_s_sweep_admits_what_a_stopped_one_left_queued() {
    let db = TestDatabase::new();
    let target = slow_target(Duration::from_secs(30)).await;
    let fast = slow_target(Duration::ZERO).await;
    let mut first = BatonProcess::start(
        BATON,
        &db.url,
        &[
            ("BATON_LEASE_MS", "600000"),
            ("BATON_ADMISSION_POLL_MS", "600000"),
        ],
    )
    .await;
    let holder = first
        .create_workflow(&keyed_run("a", 0, &format!("{}/work", target.uri()), 1))
        .await;
    let waiting = first
        .create_workflow(&keyed_run("a", 1, &format!("{}/work", fast.uri()), 1))
        .await;
    assert_eq!(waiting["status"], "queued");
    wait_until("the holder's fetch is in flight", WAIT, || async {
        !target.received_requests().await.unwrap().is_empty()
    })
    .await;
    first.kill9();
    // Its run ended; the instance that would have admitted the next one is gone.
    db.force_workflow_status(id_of(&holder), "completed").await;

    let second = BatonProcess::start(BATON, &db.url, &[]).await;
    let done = second.wait_for_workflow(id_of(&waiting), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(fast.received_requests().await.unwrap().len(), 1);
}
