//! Every way a request can be wrong answers the error format and changes nothing.

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{error_fields, id_of, workflow_body};

const UNKNOWN: &str = "0193b2f4-0000-7000-8000-000000000000";

/// Sends a raw request and checks status, code and the unchanged database.
async fn rejected(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
    status: StatusCode,
    code: &str,
) -> Value {
    let before = app.snapshot().await;
    let mut request = app.request(method.clone(), path).body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let response = request.send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    let error = expect_status(response, status).await;
    assert_eq!(error["code"], code, "{method} {path}: {error}");
    assert!(
        error["error"].as_str().is_some_and(|m| !m.is_empty()),
        "a message for people: {error}"
    );
    assert_eq!(
        app.snapshot().await,
        before,
        "{method} {path} changed nothing"
    );
    error
}

const JSON: Option<&str> = Some("application/json");

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies() {
    let app = TestApp::spawn().await;
    let created = app.create_workflow(&workflow_body("base", 1)).await;
    let path = format!("/api/workflows/{}", id_of(&created));
    let cases: &[(&str, StatusCode)] = &[
        ("{\"name\": ", StatusCode::BAD_REQUEST),
        ("not json", StatusCode::BAD_REQUEST),
        ("", StatusCode::BAD_REQUEST),
        ("{}", StatusCode::UNPROCESSABLE_ENTITY),
        ("{\"name\": 5}", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "{\"name\": \"x\", \"tasks\": {}}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "{\"name\": \"x\", \"colour\": \"red\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("[]", StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, status) in cases {
        rejected(
            &app,
            Method::POST,
            "/api/workflows",
            JSON,
            body,
            *status,
            "VALIDATION_ERROR",
        )
        .await;
    }
    rejected(
        &app,
        Method::PATCH,
        &path,
        JSON,
        "{\"name\": [1]}",
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    rejected(
        &app,
        Method::PATCH,
        &path,
        JSON,
        "{",
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let body = workflow_body("x", 1).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        rejected(
            &app,
            Method::POST,
            "/api/workflows",
            content_type,
            &body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_fields_are_422_with_every_field_named() {
    let app = TestApp::spawn().await;
    let body = json!({
        "name": "",
        "tasks": [
            {"key": "dup", "type": "transform", "input": {"jq": "."}},
            {"key": "dup", "type": "transform", "input": {"jq": "."}},
            {"type": "fetch", "input": {"url": "ftp://nope"}},
            {"type": "teleport"},
            {"type": "store", "input": {"collection": "c"}},
            {"type": "transform", "input": {"jq": "."}, "retry": {"max_attempts": 0}},
            {"key": "9lives", "type": "transform", "input": {"jq": "."}}
        ]
    })
    .to_string();
    let error = rejected(
        &app,
        Method::POST,
        "/api/workflows",
        JSON,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    let fields = error_fields(&error);
    assert_eq!(
        fields,
        [
            "name",
            "tasks[1].key",
            "tasks[2].input.url",
            "tasks[3].type",
            "tasks[4].input.document",
            "tasks[5].retry.max_attempts",
            "tasks[6].key",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn llm_tasks_need_a_prompt_or_messages() {
    let app = TestApp::spawn().await;
    let body =
        json!({"name": "x", "tasks": [{"type": "llm", "input": {"temperature": 3}}]}).to_string();
    let error = rejected(
        &app,
        Method::POST,
        "/api/workflows",
        JSON,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    let fields = error_fields(&error);
    assert_eq!(
        fields,
        ["tasks[0].input.prompt", "tasks[0].input.temperature"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_tasks_and_oversized_bodies() {
    let app = TestApp::spawn().await;
    let many = workflow_body("many", 1_001).to_string();
    let error = rejected(
        &app,
        Method::POST,
        "/api/workflows",
        JSON,
        &many,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(error["error"].as_str().unwrap().contains("1000"), "{error}");

    let big = json!({"name": "big", "input": {"blob": "x".repeat(1_100_000)}}).to_string();
    rejected(
        &app,
        Method::POST,
        "/api/workflows",
        JSON,
        &big,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;

    // The largest allowed workflow is accepted.
    let most = app
        .post_json("/api/workflows", &workflow_body("most", 1_000))
        .await;
    assert_eq!(most.status(), StatusCode::CREATED);
    assert_eq!(app.count("tasks").await, 1_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_and_malformed_uuids() {
    let app = TestApp::spawn().await;
    for path in [
        format!("/api/workflows/{UNKNOWN}"),
        format!("/api/workflows/{UNKNOWN}/tasks"),
        format!("/api/tasks/{UNKNOWN}"),
    ] {
        rejected(
            &app,
            Method::GET,
            &path,
            None,
            "",
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        )
        .await;
    }
    rejected(
        &app,
        Method::PATCH,
        &format!("/api/workflows/{UNKNOWN}"),
        JSON,
        "{\"name\": \"x\"}",
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    rejected(
        &app,
        Method::DELETE,
        &format!("/api/tasks/{UNKNOWN}"),
        None,
        "",
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let add =
        json!({"workflow_id": UNKNOWN, "type": "transform", "input": {"jq": "."}}).to_string();
    rejected(
        &app,
        Method::POST,
        "/api/tasks",
        JSON,
        &add,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;

    for path in [
        "/api/workflows/123",
        "/api/workflows/not-a-uuid/tasks",
        "/api/tasks/%27%3B%20DROP",
    ] {
        rejected(
            &app,
            Method::GET,
            path,
            None,
            "",
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
    rejected(
        &app,
        Method::DELETE,
        "/api/workflows/zzz",
        None,
        "",
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_list_parameters_are_400() {
    let app = TestApp::spawn().await;
    app.create_workflow(&workflow_body("one", 1)).await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "cursor=garbage",
        "cursor=%F0%9F%8E%89",
        "status=done",
    ] {
        rejected(
            &app,
            Method::GET,
            &format!("/api/workflows?{query}"),
            None,
            "",
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
    for query in ["workflow_id=nope", "status=paused", "limit=500"] {
        rejected(
            &app,
            Method::GET,
            &format!("/api/tasks?{query}"),
            None,
            "",
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    }
    // A workflows cursor does not continue the tasks list.
    for i in 0..2 {
        app.create_workflow(&workflow_body(&format!("w{i}"), 1))
            .await;
    }
    let page = expect_status(app.get("/api/workflows?limit=1").await, StatusCode::OK).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    rejected(
        &app,
        Method::GET,
        &format!("/api/tasks?cursor={cursor}"),
        None,
        "",
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_wrong_methods() {
    let app = TestApp::spawn().await;
    rejected(
        &app,
        Method::GET,
        "/api/nothing",
        None,
        "",
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    // Outside /api too (`/` itself leads to the API reference: tests/api/openapi.rs).
    rejected(
        &app,
        Method::GET,
        "/nothing",
        None,
        "",
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let error = rejected(
        &app,
        Method::PUT,
        "/api/workflows",
        JSON,
        "{}",
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    assert!(error["error"].as_str().unwrap().contains("GET, POST"));
    rejected(
        &app,
        Method::POST,
        &format!("/api/tasks/{UNKNOWN}"),
        JSON,
        "{}",
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    rejected(
        &app,
        Method::DELETE,
        "/healthz",
        None,
        "",
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    let response = app
        .request(Method::PUT, "/api/workflows")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_if_match_is_400_and_conflicting_versions_409() {
    let app = TestApp::spawn().await;
    let created = app.create_workflow(&workflow_body("v", 1)).await;
    let path = format!("/api/workflows/{}", id_of(&created));
    let before = app.snapshot().await;
    let response = app
        .request(Method::PATCH, &path)
        .header("If-Match", "version one")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    let error = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "VALIDATION_ERROR");
    let response = app
        .request(Method::PATCH, &path)
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "x", "version": 2}))
        .send()
        .await
        .unwrap();
    let error = expect_status(response, StatusCode::CONFLICT).await;
    assert_eq!(error["code"], "CONFLICT");
    assert_eq!(app.snapshot().await, before);
}
