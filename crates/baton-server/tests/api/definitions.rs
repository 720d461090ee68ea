//! Workflow definitions: saved in versions, read, listed and deleted; runs created and
//! started from a version (its tasks copied: later versions never change a run), their input
//! checked against the definition's schema; names per owner.

use std::time::Duration;

use baton_testkit::{Api, TestApp, expect_status, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{error_fields, id_of};
use crate::runs::{DONE, WAIT};

/// A definition body named `name` whose one transform answers `jq`.
pub fn definition(name: &str, jq: &str) -> Value {
    json!({
        "name": name,
        "description": "for tests",
        "tasks": [{"key": "only", "type": "transform", "input": {"jq": jq}}]
    })
}

pub async fn create_definition(app: &impl Api, body: &Value) -> Value {
    expect_status(
        app.post_json("/api/definitions", body).await,
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn definitions_are_created_versioned_read_listed_and_deleted() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json("/api/definitions", &definition("digest", "{v: 1}"))
        .await;
    assert_eq!(response.headers()["location"], "/api/definitions/digest");
    assert_eq!(response.headers()["etag"], "\"1\"");
    let v1 = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(v1["name"], "digest");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["description"], "for tests");
    assert_eq!(v1["input_schema"], Value::Null);
    assert_eq!(v1["defaults"], json!({}));
    assert_eq!(
        v1["tasks"],
        json!([{"key": "only", "type": "transform", "input": {"jq": "{v: 1}"}}])
    );
    assert!(v1["owner_id"].is_string() && v1["created_at"].is_string());

    let again = app
        .post_json("/api/definitions", &definition("digest", "{v: 9}"))
        .await;
    let error = expect_status(again, StatusCode::CONFLICT).await;
    assert!(
        error["error"].as_str().unwrap().contains("PUT"),
        "says how to save a version: {error}"
    );

    let body = |jq: &str| json!({"tasks": [{"type": "transform", "input": {"jq": jq}}]});
    let v2 = expect_status(
        app.put_json("/api/definitions/digest", &body("{v: 2}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v2["version"], 2);
    let stale = app
        .request(reqwest::Method::PUT, "/api/definitions/digest")
        .header("If-Match", "\"1\"")
        .json(&body("{v: 3}"))
        .send()
        .await
        .unwrap();
    let error = expect_status(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(error["details"]["current_version"], 2);
    let v3 = app
        .request(reqwest::Method::PUT, "/api/definitions/digest")
        .header("If-Match", "\"2\"")
        .json(
            &json!({"name": "digest", "tasks": [{"type": "transform", "input": {"jq": "{v: 3}"}}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(v3, StatusCode::OK).await["version"], 3);
    let other_name = app
        .put_json(
            "/api/definitions/digest",
            &json!({"name": "other", "tasks": [{"type": "transform", "input": {"jq": "1"}}]}),
        )
        .await;
    let error = expect_status(other_name, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error["details"]["fields"][0]["field"], "name");
    let new = app.put_json("/api/definitions/fresh", &body("1")).await;
    assert_eq!(new.headers()["location"], "/api/definitions/fresh");
    assert_eq!(expect_status(new, StatusCode::CREATED).await["version"], 1);

    let latest = app.get("/api/definitions/digest").await;
    assert_eq!(latest.headers()["etag"], "\"3\"");
    let latest = expect_status(latest, StatusCode::OK).await;
    assert_eq!(latest["tasks"][0]["input"]["jq"], "{v: 3}");
    let first = expect_status(
        app.get("/api/definitions/digest?version=1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first, v1, "version 1 as it was saved");
    expect_status(
        app.get("/api/definitions/digest?version=9").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        app.get("/api/definitions/digest?version=x").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let versions = expect_status(
        app.get("/api/definitions/digest/versions").await,
        StatusCode::OK,
    )
    .await;
    let numbers: Vec<i64> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
    let paged = expect_status(
        app.get("/api/definitions/digest/versions?limit=2").await,
        StatusCode::OK,
    )
    .await;
    let cursor = paged["next_cursor"].as_str().unwrap();
    let rest = expect_status(
        app.get(&format!(
            "/api/definitions/digest/versions?limit=2&cursor={cursor}"
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["data"][0]["version"], 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    let list = expect_status(app.get("/api/definitions").await, StatusCode::OK).await;
    let listed: Vec<(&str, i64)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(listed, [("fresh", 1), ("digest", 3)], "each name's latest");

    expect_status(
        app.delete("/api/definitions/digest").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        app.get("/api/definitions/digest?version=1").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        app.delete("/api/definitions/digest").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(app.count("definitions").await, 1, "fresh's version 1");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_definitions_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    let task = json!({"type": "transform", "input": {"jq": "."}});
    for (body, field) in [
        (json!({"name": "a b", "tasks": [task]}), "name"),
        (json!({"name": "", "tasks": [task]}), "name"),
        (json!({"name": "a/b", "tasks": [task]}), "name"),
        (json!({"name": "x".repeat(101), "tasks": [task]}), "name"),
        (json!({"name": "ok", "tasks": []}), "tasks"),
        (
            json!({"name": "ok", "input_schema": {"type": "nope"}, "tasks": [task]}),
            "input_schema",
        ),
        (
            json!({"name": "ok", "defaults": {"timeout_ms": 0}, "tasks": [task]}),
            "defaults.timeout_ms",
        ),
        (
            json!({"name": "ok", "tasks": [task, {"type": "teleport"}]}),
            "tasks[1].type",
        ),
        (
            json!({"name": "ok", "tasks": [{"type": "transform", "input": {"jq": ".steps.nope.output"}}]}),
            "tasks[0].input.jq",
        ),
    ] {
        let response = app.post_json("/api/definitions", &body).await;
        let error = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");
        let fields = error_fields(&error);
        assert!(fields.contains(&field), "{field} in {error}");
    }
    let unknown = app
        .post_json(
            "/api/definitions",
            &json!({"name": "ok", "tasks": [task], "extra": 1}),
        )
        .await;
    expect_status(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    let bad_path = app
        .put_json("/api/definitions/a.b c", &json!({"tasks": [task]}))
        .await;
    expect_status(bad_path, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.count("definitions").await, 0);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_creates_and_starts_a_workflow_with_the_merged_input() {
    let app = TestApp::spawn().await;
    create_definition(
        &app,
        &json!({
            "name": "greet",
            "input_schema": {"type": "object", "required": ["who"],
                             "properties": {"who": {"type": "string"}, "times": {"type": "integer"}}},
            "defaults": {"input": {"greeting": "hello", "times": 1}, "retry": {"max_attempts": 7}},
            "tasks": [{"type": "transform",
                       "input": {"jq": "{text: (.input.greeting + \" \" + .input.who), times: .input.times}"}}]
        }),
    )
    .await;
    let response = app
        .post_json(
            "/api/definitions/greet/runs",
            &json!({"input": {"who": "Ada", "times": 2}}),
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let run = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(location, format!("/api/workflows/{}", id_of(&run)));
    assert_eq!(run["status"], "running", "created and started in one go");
    assert_eq!(run["name"], "greet");
    assert_eq!(run["definition"], json!({"name": "greet", "version": 1}));
    assert_eq!(run["schedule"], Value::Null);
    assert_eq!(
        run["input"],
        json!({"greeting": "hello", "times": 2, "who": "Ada"})
    );
    assert_eq!(
        run["tasks"][0]["retry"]["max_attempts"], 7,
        "the default retry"
    );
    let done = app.wait_for_workflow(id_of(&run), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!({"text": "hello Ada", "times": 2}));

    let plain = app
        .create_workflow(
            &json!({"name": "plain", "tasks": [{"type": "transform", "input": {"jq": "1"}}]}),
        )
        .await;
    assert_eq!(plain["definition"], Value::Null);

    let workflows = app.count("workflows").await;
    let violation = app
        .post_json(
            "/api/definitions/greet/runs",
            &json!({"input": {"times": "x"}}),
        )
        .await;
    let error = expect_status(violation, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields = error["details"]["fields"].as_array().unwrap();
    assert!(fields.iter().all(|f| f["field"] == "input"), "{error}");
    let messages: Vec<&str> = fields
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with("at /times:")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("at /:") && m.contains("who")),
        "{messages:?}"
    );
    for (path, body) in [
        ("/api/definitions/nope/runs", json!({})),
        (
            "/api/definitions/greet/runs",
            json!({"version": 2, "input": {"who": "x"}}),
        ),
    ] {
        expect_status(app.post_json(path, &body).await, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(
        app.count("workflows").await,
        workflows,
        "no workflow created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_started_on_version_1_finishes_on_its_tasks_after_version_2_is_saved() {
    let app = TestApp::spawn().await;
    let target = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true}))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&target)
        .await;
    create_definition(
        &app,
        &json!({
            "name": "pipeline",
            "tasks": [
                {"key": "call", "type": "fetch", "input": {"url": format!("{}/slow", target.uri())}},
                {"type": "transform", "input": {"jq": "{version: 1, ok: .steps.call.output.body.ok}"}}
            ]
        }),
    )
    .await;
    let run = expect_status(
        app.post_json("/api/definitions/pipeline/runs", &json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = id_of(&run).to_owned();
    wait_until("the slow fetch is running", WAIT, || async {
        let workflow = expect_status(
            app.get(&format!("/api/workflows/{id}")).await,
            StatusCode::OK,
        )
        .await;
        workflow["tasks"][0]["status"] == "running"
    })
    .await;

    let v2 = app
        .put_json(
            "/api/definitions/pipeline",
            &json!({"tasks": [{"type": "transform", "input": {"jq": "{version: 2}"}}]}),
        )
        .await;
    assert_eq!(expect_status(v2, StatusCode::OK).await["version"], 2);

    let done = app.wait_for_workflow(&id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["output"],
        json!({"version": 1, "ok": true}),
        "v1's tasks"
    );
    assert_eq!(done["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(
        done["definition"],
        json!({"name": "pipeline", "version": 1})
    );

    let next = expect_status(
        app.post_json("/api/definitions/pipeline/runs", &json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let next = app.wait_for_workflow(id_of(&next), DONE, WAIT).await;
    assert_eq!(next["output"], json!({"version": 2}));
    assert_eq!(next["definition"]["version"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn definitions_are_their_owner_s() {
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let a = app.create_member(&admin, "a@baton.test").await;
    let b = app.create_member(&admin, "b@baton.test").await;
    let (as_a, as_b) = (app.bearer(&a.token), app.bearer(&b.token));
    create_definition(&as_a, &definition("digest", "{who: \"a\"}")).await;
    let before = app.snapshot().await;

    for path in [
        "/api/definitions/digest",
        "/api/definitions/digest/versions",
        &format!("/api/definitions/digest?owner_id={}", a.id),
    ] {
        expect_status(as_b.get(path).await, StatusCode::NOT_FOUND).await;
    }
    expect_status(
        as_b.post_json("/api/definitions/digest/runs", &json!({}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        as_b.delete("/api/definitions/digest").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let none = expect_status(as_b.get("/api/definitions").await, StatusCode::OK).await;
    assert_eq!(none["data"], json!([]));
    assert_eq!(app.snapshot().await, before, "B changed nothing");

    // Names are per owner: B's own digest is another definition.
    let theirs = create_definition(&as_b, &definition("digest", "{who: \"b\"}")).await;
    assert_eq!(theirs["version"], 1);
    let mine = expect_status(as_a.get("/api/definitions/digest").await, StatusCode::OK).await;
    assert_eq!(mine["tasks"][0]["input"]["jq"], "{who: \"a\"}");

    let as_admin = app.bearer(&admin);
    let all = expect_status(as_admin.get("/api/definitions").await, StatusCode::OK).await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        2,
        "an admin lists all"
    );
    let read = expect_status(
        as_admin
            .get(&format!("/api/definitions/digest?owner_id={}", a.id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["owner_id"], json!(a.id));
    expect_status(
        as_admin.get("/api/definitions/digest?owner_id=nope").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

/// A definition's `defaults.concurrency` is its runs': with a limit of 1 per tenant, a second
/// run of one tenant waits `queued` for the first, another tenant's runs at once.
#[tokio::test(flavor = "multi_thread")]
async fn runs_take_the_definition_s_concurrency_key() {
    let app = TestApp::spawn_with(&[("BATON_POLL_MS", "50")]).await;
    create_definition(
        &app,
        &json!({
            "name": "per-tenant",
            "defaults": {"concurrency": {"key": "{{ input.tenant }}", "limit": 1}},
            "tasks": [{"key": "nap", "type": "sleep", "input": {"for_ms": 600}}]
        }),
    )
    .await;
    let mut runs = Vec::new();
    for tenant in ["acme", "acme", "globex"] {
        let response = app
            .post_json(
                "/api/definitions/per-tenant/runs",
                &json!({"input": {"tenant": tenant}}),
            )
            .await;
        runs.push(expect_status(response, StatusCode::CREATED).await);
    }
    assert_eq!(runs[0]["status"], "running");
    assert_eq!(runs[0]["concurrency"], json!({"key": "acme", "limit": 1}));
    assert_eq!(
        runs[1]["status"], "queued",
        "the second of a tenant waits: {}",
        runs[1]
    );
    assert_eq!(runs[2]["status"], "running", "another tenant does not");
    let first = app.wait_for_workflow(id_of(&runs[0]), DONE, WAIT).await;
    let second = app.wait_for_workflow(id_of(&runs[1]), DONE, WAIT).await;
    assert_eq!(first["status"], "completed");
    assert_eq!(second["status"], "completed");
    assert!(
        second["tasks"][0]["started_at"].as_str() >= first["finished_at"].as_str(),
        "one at a time: {first} then {second}"
    );

    let bad = app
        .post_json(
            "/api/definitions",
            &json!({"name": "bad-key", "defaults": {"concurrency": {"key": "{{ input.t }}", "limit": 0}},
                    "tasks": [{"type": "transform", "input": {"jq": "."}}]}),
        )
        .await;
    let body = expect_status(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body.to_string().contains("defaults.concurrency.limit"),
        "{body}"
    );
}
