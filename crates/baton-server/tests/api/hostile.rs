//! Hostile requests (as a fuzzer sends them): deeply nested JSON, huge numbers, very long
//! strings, odd headers. Each is a 4xx in the error format, and nothing is created.

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::header::HeaderValue;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::workflow_body;

/// Sends `request`, expects `status` with the error format's body, and an unchanged store.
async fn refused(app: &TestApp, request: RequestBuilder, status: StatusCode) -> Value {
    let before = app.snapshot().await;
    let response = request.send().await.unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let error = expect_status(response, status).await;
    assert!(
        content_type.starts_with("application/json"),
        "the error format is JSON, not {content_type}"
    );
    assert!(
        error["error"].as_str().is_some_and(|m| !m.is_empty()),
        "a message for people: {error}"
    );
    assert!(
        error["code"].as_str().is_some_and(|c| !c.is_empty()),
        "a code: {error}"
    );
    assert_eq!(app.snapshot().await, before, "nothing was stored");
    error
}

fn json_post(app: &TestApp, path: &str, body: String) -> RequestBuilder {
    app.request(Method::POST, path)
        .header("Content-Type", "application/json")
        .body(body)
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_json_is_400_not_a_stack_overflow() {
    let app = TestApp::spawn().await;
    let deep = "[".repeat(10_000);
    let closed = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let as_input = format!(
        "{{\"name\": \"deep\", \"input\": {closed}, \"tasks\": [{{\"key\": \"t\", \"type\": \"transform\", \"input\": {{\"jq\": \".\"}}}}]}}"
    );
    // Nested values where a field wants a string or an object: refused at the first bracket.
    for body in [deep, closed, objects] {
        for path in [
            "/api/workflows",
            "/api/workflows/validate",
            "/api/tasks",
            "/api/definitions",
        ] {
            let error = refused(
                &app,
                json_post(&app, path, body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
            assert_eq!(error["code"], "VALIDATION_ERROR", "{path}: {error}");
        }
    }
    // Nested where any JSON is allowed: the parser's depth limit, not the stack, stops it.
    for path in ["/api/workflows", "/api/workflows/validate"] {
        let error = refused(
            &app,
            json_post(&app, path, as_input.clone()),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "{path}: {error}");
    }
    // The server is still up and serving.
    let created = app.create_workflow(&workflow_body("after", 1)).await;
    assert_eq!(created["name"], "after");
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_numbers_are_refused_where_a_number_is_bounded() {
    let app = TestApp::spawn().await;
    // A literal no f64 holds.
    let body = r#"{"name": "big", "input": {"n": 1e400}, "tasks": [{"key": "t", "type": "transform", "input": {"jq": "."}}]}"#;
    let error = refused(
        &app,
        json_post(&app, "/api/workflows", body.into()),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], "VALIDATION_ERROR");
    // Integers past u64 and past the field's type, in bodies.
    for attempts in ["18446744073709551616", "1e400", "-1", "4294967296"] {
        let body = format!(
            r#"{{"name": "big", "tasks": [{{"key": "t", "type": "transform", "timeout_ms": {attempts}, "input": {{"jq": "."}}}}]}}"#
        );
        let status = if attempts == "1e400" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let error = refused(&app, json_post(&app, "/api/workflows", body), status).await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "{attempts}: {error}");
    }
    // And in query parameters.
    for limit in [
        "18446744073709551616",
        "1e400",
        "-1",
        "99999999999999999999999999999",
    ] {
        let error = refused(
            &app,
            app.request(Method::GET, &format!("/api/workflows?limit={limit}")),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "limit={limit}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn very_long_strings_in_names_ids_and_queries_are_4xx() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(100_000);
    let error = refused(
        &app,
        app.request(Method::POST, "/api/workflows")
            .json(&json!({"name": long, "tasks": [{"key": "t", "type": "transform", "input": {"jq": "."}}]})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["code"], "VALIDATION_ERROR");
    let key = "k".repeat(10_000);
    let error = refused(
        &app,
        app.request(Method::POST, "/api/workflows")
            .json(&json!({"name": "x", "tasks": [{"key": key, "type": "transform", "input": {"jq": "."}}]})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["code"], "VALIDATION_ERROR");
    let id = "a".repeat(4_000);
    for path in [
        format!("/api/workflows/{id}"),
        format!("/api/tasks/{id}"),
        format!("/api/documents/{id}"),
        format!("/api/schedules/{id}"),
    ] {
        let error = refused(
            &app,
            app.request(Method::GET, &path),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");
        let message = error["error"].as_str().unwrap();
        assert!(
            message.chars().count() < 200 && message.contains('…'),
            "the path is not echoed whole: {message}"
        );
    }
    for path in [
        format!("/api/definitions/{id}"),
        format!("/api/secrets/{id}"),
    ] {
        let response = app.request(Method::GET, &path).send().await.unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
        let error: Value = response.json().await.unwrap();
        assert!(error["code"].is_string(), "{error}");
    }
    for query in [
        format!("status={id}"),
        format!("cursor={id}"),
        format!("name={id}"),
        format!("limit={id}"),
    ] {
        let error = refused(
            &app,
            app.request(Method::GET, &format!("/api/workflows?{query}")),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(error["code"], "VALIDATION_ERROR", "{query}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn odd_content_types_are_415() {
    let app = TestApp::spawn().await;
    let body = workflow_body("x", 1).to_string();
    for content_type in [
        "application/jsonx",
        "json",
        ";;;",
        "multipart/form-data; boundary=x",
    ] {
        let error = refused(
            &app,
            app.request(Method::POST, "/api/workflows")
                .header("Content-Type", content_type)
                .body(body.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
        .await;
        assert_eq!(error["code"], "UNSUPPORTED_MEDIA_TYPE", "{content_type}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn odd_authorization_headers_are_401_in_the_error_format() {
    let app = TestApp::spawn_authenticated().await;
    let big = format!("Bearer {}", "a".repeat(16_000));
    let values: Vec<HeaderValue> = vec![
        HeaderValue::from_static("Basic YWRtaW46YWRtaW4="),
        HeaderValue::from_static("Bearer"),
        HeaderValue::from_static("Bearer "),
        HeaderValue::from_static("Bearer a.b.c"),
        HeaderValue::from_static("Token abc"),
        HeaderValue::from_static("bearer\tabc"),
        HeaderValue::from_bytes(b"Bearer \xff\xfe\x80").unwrap(),
        HeaderValue::from_bytes(b"\xc3\x28").unwrap(),
        HeaderValue::from_str(&big).unwrap(),
    ];
    for value in values {
        let error = refused(
            &app,
            app.request(Method::POST, "/api/workflows")
                .header("Authorization", value.clone())
                .json(&workflow_body("x", 1)),
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(error["code"], "UNAUTHORIZED", "{value:?}: {error}");
    }
    for value in [
        HeaderValue::from_bytes(b"baton_\xff\xfe").unwrap(),
        HeaderValue::from_static(""),
    ] {
        let error = refused(
            &app,
            app.request(Method::GET, "/api/workflows")
                .header("X-API-Key", value.clone()),
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(error["code"], "UNAUTHORIZED", "{value:?}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn odd_other_headers_are_4xx_in_the_error_format() {
    let app = TestApp::spawn().await;
    let body = workflow_body("x", 1);
    // A non-UTF-8 or oversized Idempotency-Key, If-Match or Content-Type.
    let cases: Vec<(&str, HeaderValue, StatusCode)> = vec![
        (
            "Idempotency-Key",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "Idempotency-Key",
            HeaderValue::from_str(&"k".repeat(8_000)).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "Content-Type",
            HeaderValue::from_bytes(b"application/\xffjson").unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (name, value, status) in cases {
        let mut request = app.request(Method::POST, "/api/workflows");
        if name != "Content-Type" {
            request = request.header("Content-Type", "application/json");
        }
        let request = request.header(name, value).body(body.to_string());
        refused(&app, request, status).await;
    }
    let created = app.create_workflow(&body).await;
    let path = format!("/api/workflows/{}", created["id"].as_str().unwrap());
    for value in [
        HeaderValue::from_bytes(b"\"\xff\"").unwrap(),
        HeaderValue::from_str(&"9".repeat(8_000)).unwrap(),
    ] {
        refused(
            &app,
            app.request(Method::PATCH, &path)
                .header("If-Match", value)
                .json(&json!({"name": "renamed"})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}
