use baton_testkit::{Api, TestApp, expect_status};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{id_of, workflow_body};

async fn keys(app: &TestApp, workflow_id: &str) -> Vec<String> {
    let list = expect_status(
        app.get(&format!("/api/workflows/{workflow_id}/tasks"))
            .await,
        StatusCode::OK,
    )
    .await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            assert_eq!(t["position"], i as i64, "positions stay dense");
            t["key"].as_str().unwrap_or("-").to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn add_tasks_at_the_end_and_at_a_position() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&workflow_body("w", 2)).await;
    let wf_id = id_of(&wf);

    let response = app
        .post_json(
            "/api/tasks",
            &json!({"workflow_id": wf_id, "key": "last", "type": "store", "input": {"collection": "c", "document": {}}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let task: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/tasks/{}", id_of(&task)));
    assert_eq!(task["position"], 2);
    assert_eq!(task["workflow_id"], wf_id);

    let first = app
        .post_json(
            "/api/tasks",
            &json!({"workflow_id": wf_id, "position": 0, "key": "first", "type": "transform", "input": {"jq": "."}}),
        )
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(keys(&app, wf_id).await, ["first", "t0", "t1", "last"]);

    let fetched = expect_status(app.get(&location).await, StatusCode::OK).await;
    assert_eq!(fetched["position"], 3);
    let wf = expect_status(
        app.get(&format!("/api/workflows/{wf_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        wf["version"], 3,
        "each change to its tasks is a new workflow version"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn add_rejects_taken_keys_and_out_of_range_positions() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&workflow_body("w", 2)).await;
    let wf_id = id_of(&wf);
    let before = app.snapshot().await;
    for (body, field) in [
        (
            json!({"workflow_id": wf_id, "key": "t0", "type": "transform", "input": {"jq": "."}}),
            "key",
        ),
        (
            json!({"workflow_id": wf_id, "position": 3, "type": "transform", "input": {"jq": "."}}),
            "position",
        ),
        (
            json!({"workflow_id": wf_id, "position": -1, "type": "transform", "input": {"jq": "."}}),
            "position",
        ),
        (
            json!({"workflow_id": wf_id, "type": "transform", "input": {}}),
            "input.jq",
        ),
    ] {
        let error = expect_status(
            app.post_json("/api/tasks", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error["code"], "VALIDATION_ERROR");
        assert_eq!(error["details"]["fields"][0]["field"], field, "{error}");
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn put_replaces_and_patch_changes_some_fields() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&workflow_body("w", 3)).await;
    let task_id = id_of(&wf["tasks"][1]).to_owned();
    let path = format!("/api/tasks/{task_id}");

    let response = app
        .put_json(&path, &json!({"type": "fetch", "input": {"url": "https://example.test/a", "method": "POST"}, "title": "call"}))
        .await;
    assert_eq!(response.headers()["etag"], "\"2\"");
    let put = expect_status(response, StatusCode::OK).await;
    assert_eq!(put["type"], "fetch");
    assert_eq!(put["title"], "call");
    assert_eq!(
        put["key"],
        Value::Null,
        "PUT replaces: the omitted key is gone"
    );
    assert_eq!(put["retry"]["max_attempts"], 3, "defaults come back");
    assert_eq!(put["position"], 1);

    let patched = expect_status(
        app.patch_json(&path, &json!({"key": "call", "retry": {"max_attempts": 7}}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["key"], "call");
    assert_eq!(patched["type"], "fetch", "untouched fields stay");
    assert_eq!(patched["title"], "call");
    assert_eq!(patched["retry"]["max_attempts"], 7);
    assert_eq!(patched["version"], 3);

    let cleared = expect_status(
        app.patch_json(&path, &json!({"key": null})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["key"], Value::Null);

    // A new type is checked against the input it ends up with.
    let before = app.snapshot().await;
    let error = expect_status(
        app.patch_json(&path, &json!({"type": "store"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("input.collection"),
        "{error}"
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_moves_a_task_and_delete_closes_the_gap() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&workflow_body("w", 5)).await;
    let wf_id = id_of(&wf);
    let t0 = id_of(&wf["tasks"][0]).to_owned();
    let t4 = id_of(&wf["tasks"][4]).to_owned();

    expect_status(
        app.patch_json(&format!("/api/tasks/{t0}"), &json!({"position": 3}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys(&app, wf_id).await, ["t1", "t2", "t3", "t0", "t4"]);
    expect_status(
        app.patch_json(&format!("/api/tasks/{t4}"), &json!({"position": 0}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys(&app, wf_id).await, ["t4", "t1", "t2", "t3", "t0"]);
    let error = expect_status(
        app.patch_json(&format!("/api/tasks/{t4}"), &json!({"position": 5}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["details"]["fields"][0]["field"], "position");

    let t2 = id_of(&wf["tasks"][2]).to_owned();
    assert_eq!(
        app.delete(&format!("/api/tasks/{t2}")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(keys(&app, wf_id).await, ["t4", "t1", "t3", "t0"]);
    assert_eq!(
        app.get(&format!("/api/tasks/{t2}")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn list_tasks_filters_and_pages() {
    let app = TestApp::spawn().await;
    let a = app.create_workflow(&workflow_body("a", 3)).await;
    app.create_workflow(&workflow_body("b", 4)).await;

    let all = expect_status(app.get("/api/tasks?limit=100").await, StatusCode::OK).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 7);

    let only_a = expect_status(
        app.get(&format!("/api/tasks?workflow_id={}", id_of(&a)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(only_a["data"].as_array().unwrap().len(), 3);
    assert!(
        only_a["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["workflow_id"] == a["id"])
    );

    let mut seen = 0;
    let mut path = "/api/tasks?limit=2&status=pending".to_owned();
    loop {
        let page = expect_status(app.get(&path).await, StatusCode::OK).await;
        seen += page["data"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/tasks?limit=2&status=pending&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, 7);
    let queued = expect_status(app.get("/api/tasks?status=queued").await, StatusCode::OK).await;
    assert_eq!(queued["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_of_a_started_workflow_cannot_change() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&workflow_body("w", 2)).await;
    let wf_id = id_of(&wf);
    let task_path = format!("/api/tasks/{}", id_of(&wf["tasks"][0]));
    app.force_workflow_status(wf_id, "running").await;
    let before = app.snapshot().await;

    let attempts = [
        app.patch_json(&task_path, &json!({"title": "x"})).await,
        app.put_json(
            &task_path,
            &json!({"type": "transform", "input": {"jq": "."}}),
        )
        .await,
        app.delete(&task_path).await,
        app.post_json(
            "/api/tasks",
            &json!({"workflow_id": wf_id, "type": "transform", "input": {"jq": "."}}),
        )
        .await,
        app.patch_json(&format!("/api/workflows/{wf_id}"), &json!({"name": "x"}))
            .await,
        app.delete(&format!("/api/workflows/{wf_id}")).await,
    ];
    for response in attempts {
        let error = expect_status(response, StatusCode::CONFLICT).await;
        assert_eq!(error["code"], "CONFLICT");
        assert!(
            error["error"].as_str().unwrap().contains("running"),
            "{error}"
        );
    }
    assert_eq!(app.snapshot().await, before);

    // A finished workflow can be deleted.
    app.force_workflow_status(wf_id, "completed").await;
    assert_eq!(
        app.delete(&format!("/api/workflows/{wf_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_guard_task_edits() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&workflow_body("w", 1)).await;
    let path = format!("/api/tasks/{}", id_of(&wf["tasks"][0]));

    let ok = app
        .request(Method::PATCH, &path)
        .header("If-Match", "\"1\"")
        .json(&json!({"title": "one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let before = app.snapshot().await;
    let stale = app
        .request(Method::PATCH, &path)
        .header("If-Match", "\"1\"")
        .json(&json!({"title": "two"}))
        .send()
        .await
        .unwrap();
    let error = expect_status(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(error["code"], "PRECONDITION_FAILED");
    assert_eq!(error["details"]["current_version"], 2);

    let error = expect_status(
        app.patch_json(&path, &json!({"title": "two", "version": 1}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(error["code"], "CONFLICT");
    assert_eq!(app.snapshot().await, before);

    let cached = app
        .request(Method::GET, &path)
        .header("If-None-Match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let ok = expect_status(
        app.patch_json(&path, &json!({"title": "two", "version": 2}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ok["version"], 3);
}
