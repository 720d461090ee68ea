use baton_testkit::{Api, TestApp, expect_status};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{id_of, workflow_body};

#[tokio::test(flavor = "multi_thread")]
async fn create_answers_201_with_location_etag_and_the_stored_workflow() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/api/workflows",
            &json!({
                "name": "digest",
                "input": {"city": "Lyon"},
                "tasks": [
                    {"key": "get", "title": "Fetch", "type": "fetch", "input": {"url": "https://example.test/x"},
                     "retry": {"max_attempts": 5, "initial_ms": 200}},
                    {"type": "transform", "input": {"jq": ".prev.body"}, "timeout_ms": 1000},
                    {"type": "store", "input": {"collection": "digests", "document": {"x": "{{ prev }}"}}}
                ]
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let created: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/workflows/{}", id_of(&created)));
    assert_eq!(created["name"], "digest");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["input"], json!({"city": "Lyon"}));
    assert_eq!(created["version"], 1);
    let tasks = created["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    let positions: Vec<_> = tasks
        .iter()
        .map(|t| t["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, [0, 1, 2]);
    assert_eq!(tasks[0]["key"], "get");
    assert_eq!(tasks[0]["status"], "pending");
    assert_eq!(tasks[0]["retry"]["max_attempts"], 5);
    assert_eq!(tasks[0]["retry"]["initial_ms"], 200);
    assert_eq!(tasks[1]["key"], Value::Null);
    assert_eq!(tasks[1]["timeout_ms"], 1000);
    assert_eq!(tasks[2]["input"]["document"]["x"], "{{ prev }}");

    let fetched = expect_status(app.get(&location).await, StatusCode::OK).await;
    assert_eq!(fetched, created);
    assert_eq!(app.count("workflows").await, 1);
    assert_eq!(app.count("tasks").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn text_with_quotes_sql_and_emoji_round_trips() {
    let app = TestApp::spawn().await;
    let name = "it's \"quoted\"; DROP TABLE workflows; -- 🎉 ünïcødé";
    let input = json!({"q": "'; DELETE FROM tasks WHERE '1'='1", "emoji": "🦀🔥", "nested": {"\"k\"": ["a\\b"]}});
    let created = app
        .create_workflow(&json!({
            "name": name,
            "input": input,
            "tasks": [{"title": "Robert'); DROP TABLE tasks;--", "type": "transform", "input": {"jq": ".input.q"}}]
        }))
        .await;
    let fetched = expect_status(
        app.get(&format!("/api/workflows/{}", id_of(&created)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched["name"], name);
    assert_eq!(fetched["input"], input);
    assert_eq!(
        fetched["tasks"][0]["title"],
        "Robert'); DROP TABLE tasks;--"
    );
    assert_eq!(app.count("tasks").await, 1, "the tables are still there");
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_bytes_are_rejected_cleanly() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    for body in [
        json!({"name": "a\u{0}b"}),
        json!({"name": "ok", "input": {"x": "\u{0}"}}),
        json!({"name": "ok", "input": {"k\u{0}": 1}}),
        json!({"name": "ok", "tasks": [{"type": "transform", "input": {"jq": ".\u{0}"}}]}),
    ] {
        let error = expect_status(
            app.post_json("/api/workflows", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error["code"], "VALIDATION_ERROR");
        assert!(error["error"].as_str().unwrap().contains("NUL"), "{error}");
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_pages_newest_first_with_cursor_and_status_filter() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let created = app
            .create_workflow(&workflow_body(&format!("w{i}"), 2))
            .await;
        ids.push(id_of(&created).to_owned());
    }
    ids.reverse(); // newest first

    let mut seen = Vec::new();
    let mut path = "/api/workflows?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = expect_status(app.get(&path).await, StatusCode::OK).await;
        pages += 1;
        for w in page["data"].as_array().unwrap() {
            assert_eq!(
                w["tasks"].as_array().unwrap().len(),
                2,
                "each with its tasks"
            );
            seen.push(id_of(w).to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/workflows?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    let default = expect_status(app.get("/api/workflows").await, StatusCode::OK).await;
    assert_eq!(default["data"].as_array().unwrap().len(), 7);
    assert_eq!(default["next_cursor"], Value::Null);

    let pending = expect_status(
        app.get("/api/workflows?status=pending").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 7);
    let running = expect_status(
        app.get("/api/workflows?status=running").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(running["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_renames_and_changes_input_bumping_the_version() {
    let app = TestApp::spawn().await;
    let created = app.create_workflow(&workflow_body("old", 1)).await;
    let path = format!("/api/workflows/{}", id_of(&created));

    let response = app
        .patch_json(&path, &json!({"name": "new", "input": {"a": [1, 2]}}))
        .await;
    assert_eq!(response.headers()["etag"], "\"2\"");
    let patched = expect_status(response, StatusCode::OK).await;
    assert_eq!(patched["name"], "new");
    assert_eq!(patched["input"], json!({"a": [1, 2]}));
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["tasks"].as_array().unwrap().len(), 1);

    let invalid = app.patch_json(&path, &json!({"name": "  "})).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fetched = expect_status(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(fetched["name"], "new");
}

#[tokio::test(flavor = "multi_thread")]
async fn if_none_match_answers_304_until_the_workflow_changes() {
    let app = TestApp::spawn().await;
    let created = app.create_workflow(&workflow_body("cached", 1)).await;
    let path = format!("/api/workflows/{}", id_of(&created));

    let cached = app
        .request(Method::GET, &path)
        .header("If-None-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"], "\"1\"");

    app.patch_json(&path, &json!({"name": "changed"})).await;
    let fresh = app
        .request(Method::GET, &path)
        .header("If-None-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(fresh.headers()["etag"], "\"2\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_answers_204_and_removes_its_tasks() {
    let app = TestApp::spawn().await;
    let keep = app.create_workflow(&workflow_body("keep", 2)).await;
    let gone = app.create_workflow(&workflow_body("gone", 3)).await;
    let path = format!("/api/workflows/{}", id_of(&gone));

    let stale = app
        .request(Method::DELETE, &path)
        .header("If-Match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.count("tasks").await, 5);

    let response = app.delete(&path).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.text().await.unwrap().is_empty());
    let error = expect_status(app.get(&path).await, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], "NOT_FOUND");
    assert_eq!(app.delete(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("tasks").await, 2);
    let kept = app.get(&format!("/api/workflows/{}", id_of(&keep))).await;
    assert_eq!(kept.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_task_list_is_ordered_by_position() {
    let app = TestApp::spawn().await;
    let created = app.create_workflow(&workflow_body("nested", 4)).await;
    let list = expect_status(
        app.get(&format!("/api/workflows/{}/tasks", id_of(&created)))
            .await,
        StatusCode::OK,
    )
    .await;
    let keys: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["t0", "t1", "t2", "t3"]);
    let missing = app
        .get("/api/workflows/0193b2f4-0000-7000-8000-000000000000/tasks")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
