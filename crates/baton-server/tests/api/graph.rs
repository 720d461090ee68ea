//! Workflows as graphs: `depends_on` runs ready tasks at the same time, `when` skips, a failure
//! stops the other branches, and a retry re-runs only what did not complete.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};

/// Answers `{"from": <path>}` after `delay`, noting when each request arrived.
#[derive(Clone)]
struct Timed {
    delay: Duration,
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Respond for Timed {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        self.arrivals
            .lock()
            .unwrap()
            .push((path.clone(), Instant::now()));
        ResponseTemplate::new(200)
            .set_body_json(json!({"from": path}))
            .set_delay(self.delay)
    }
}

async fn timed_target(delay: Duration) -> (MockServer, Timed) {
    let server = MockServer::start().await;
    let timed = Timed {
        delay,
        arrivals: Arc::default(),
    };
    Mock::given(wiremock::matchers::any())
        .respond_with(timed.clone())
        .mount(&server)
        .await;
    (server, timed)
}

fn fetch(key: &str, url: String, deps: &[&str]) -> Value {
    json!({"key": key, "type": "fetch", "input": {"url": url}, "depends_on": deps,
           "retry": {"max_attempts": 1}})
}

async fn hits(server: &MockServer, at: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == at)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_diamond_runs_its_branches_at_the_same_time_and_the_join_sees_both() {
    let delay = Duration::from_millis(800);
    let (target, timed) = timed_target(delay).await;
    let app = TestApp::spawn().await;
    let url = |p: &str| format!("{}/{p}", target.uri());
    let wf = app
        .create_workflow(&json!({
            "name": "diamond", "start": true,
            "tasks": [
                {"key": "a", "type": "transform", "input": {"jq": "{n: 1}"}, "depends_on": []},
                fetch("b", url("b"), &["a"]),
                fetch("c", url("c"), &["a"]),
                {"key": "d", "type": "transform", "depends_on": ["b", "c"],
                 "input": {"jq": "[.steps.b.output.body.from, .steps.c.output.body.from]"}}
            ]
        }))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!(["/b", "/c"]));
    assert_eq!(done["tasks"][3]["depends_on"], json!(["b", "c"]));
    let arrivals = timed.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    let gap = arrivals[1].1 - arrivals[0].1;
    // The second branch reached the target while the first was still being answered.
    assert!(
        gap < delay,
        "the branches ran one after the other ({gap:?} apart)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_false_when_skips_its_branch_and_the_join_still_runs() {
    let app = TestApp::spawn().await;
    let transform = |key: &str, deps: &[&str], jq: &str| json!({"key": key, "type": "transform", "depends_on": deps, "input": {"jq": jq}});
    let mut skipped = transform("b", &["a"], "1");
    skipped["when"] = json!("{{ steps.a.output.urgent }}");
    let wf = app
        .create_workflow(&json!({
            "name": "branches", "start": true,
            "tasks": [
                transform("a", &[], "{urgent: false}"),
                skipped,
                transform("c", &["b"], "2"),
                transform("d", &["a"], "3"),
                transform("e", &["c", "d"], "[.steps.c.output, .steps.c.status, .steps.d.output]"),
            ]
        }))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    let statuses: Vec<&str> = done["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["completed", "skipped", "skipped", "completed", "completed"]
    );
    assert_eq!(done["tasks"][1]["output"], Value::Null);
    assert_eq!(done["output"], json!([null, "skipped", 3]));
    let skips = app.events_of_type("task.skipped").await;
    assert_eq!(skips.len(), 2);
    assert!(
        skips[0]["reason"].as_str().unwrap().contains("when"),
        "{skips:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_when_that_is_not_a_boolean_fails_the_task_saying_so() {
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(&json!({
            "name": "odd", "start": true,
            "tasks": [{"type": "transform", "input": {"jq": "1"}, "when": "{{ input }}"}]
        }))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["tasks"][0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`when` must render to true or false"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cycles_unknown_keys_and_self_references_are_refused_naming_the_tasks() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    let task = |key: &str, deps: &[&str]| json!({"key": key, "type": "transform", "input": {"jq": "1"}, "depends_on": deps});
    for (tasks, field, says) in [
        (
            vec![task("a", &["b"]), task("b", &["a"])],
            "tasks[0].depends_on",
            "cycle",
        ),
        (
            vec![task("a", &[]), task("b", &["zz"])],
            "tasks[1].depends_on",
            "\"zz\"",
        ),
        (vec![task("a", &["a"])], "tasks[0].depends_on", "itself"),
    ] {
        let response = app
            .post_json("/api/workflows", &json!({"name": "bad", "tasks": tasks}))
            .await;
        let error = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let first = &error["details"]["fields"][0];
        assert_eq!(first["field"], field, "{error}");
        assert!(first["message"].as_str().unwrap().contains(says), "{error}");
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_stops_the_other_branches_and_retry_reruns_only_what_did_not_complete() {
    let target = MockServer::start().await;
    Mock::given(path("/a"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"a": 1})))
        .mount(&target)
        .await;
    let broken = Mock::given(path("/b"))
        .respond_with(ResponseTemplate::new(400).set_body_string("bad request"))
        .mount_as_scoped(&target)
        .await;
    Mock::given(path("/c"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"c": 1}))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&target)
        .await;
    let app = TestApp::spawn().await;
    let url = |p: &str| format!("{}/{p}", target.uri());
    let wf = app
        .create_workflow(&json!({
            "name": "fragile", "start": true,
            "tasks": [
                fetch("a", url("a"), &[]),
                fetch("b", url("b"), &["a"]),
                fetch("c", url("c"), &["a"]),
                {"key": "d", "type": "transform", "depends_on": ["b", "c"], "input": {"jq": "1"}}
            ]
        }))
        .await;
    let id = id_of(&wf);
    let failed = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let status = |wf: &Value, i: usize| wf["tasks"][i]["status"].as_str().unwrap().to_owned();
    assert_eq!(status(&failed, 1), "failed");
    assert_eq!(status(&failed, 2), "cancelled", "{failed}");
    assert_eq!(status(&failed, 3), "pending");

    drop(broken);
    Mock::given(path("/b"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"b": 1})))
        .mount(&target)
        .await;
    let retry = app
        .post_json(&format!("/api/workflows/{id}/retry"), &json!({}))
        .await;
    expect_status(retry, StatusCode::ACCEPTED).await;
    let done = app
        .wait_for_workflow(id, &["completed", "failed"], WAIT)
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        hits(&target, "/a").await,
        1,
        "a completed: it is not run again"
    );
    assert_eq!(hits(&target, "/b").await, 2);
    // c was cancelled by b's failure (midway, or before it reached the target): it ran
    // again after the retry, and completed once.
    assert!(hits(&target, "/c").await >= 1);
    let completions = app.events_of_type("task.completed").await;
    let c_id = &done["tasks"][2]["id"];
    assert_eq!(
        completions.iter().filter(|e| &e["task_id"] == c_id).count(),
        1,
        "c completed once"
    );
}
