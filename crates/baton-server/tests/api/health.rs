use baton_testkit::{Api, TestApp, expect_status};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_readyz_answer_ok() {
    let app = TestApp::spawn().await;
    let body = expect_status(app.get("/healthz").await, StatusCode::OK).await;
    assert_eq!(body["status"], "ok");
    let body = expect_status(app.get("/readyz").await, StatusCode::OK).await;
    assert_eq!(body["status"], "ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_a_request_id_and_echoes_the_clients() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 36, "a uuid: {generated}");

    let response = app
        .client
        .get(app.url("/api/workflows/not-a-uuid"))
        .header("X-Request-Id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_and_its_ui_are_served() {
    let app = TestApp::spawn().await;
    let doc = expect_status(app.get("/api/openapi.json").await, StatusCode::OK).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/workflows",
        "/api/workflows/{id}",
        "/api/workflows/{id}/tasks",
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/workflows/{id}/start",
        "/api/workflows/{id}/cancel",
        "/api/workflows/{id}/retry",
        "/api/workflows/{id}/events",
        "/api/documents",
        "/api/documents/{id}",
        "/api/completions",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    let ui = app.get("/docs/").await;
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.unwrap().contains("swagger"));
}
