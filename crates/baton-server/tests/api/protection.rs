//! CORS and security headers.

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::{Method, Response, StatusCode};

const ALLOWED: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str, method: &str, headers: &str) -> Response {
    app.request(Method::OPTIONS, "/api/workflows")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
        .send()
        .await
        .unwrap()
}

fn list(response: &Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get(name)
        .map(|v| {
            v.to_str()
                .unwrap()
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn preflights_from_allowed_origins_pass_and_others_get_no_cors_headers() {
    let app = TestApp::spawn_authenticated_with(&[(
        "BATON_CORS_ORIGINS",
        "https://app.example.com, http://localhost:3000",
    )])
    .await;
    let headers = "authorization, content-type, idempotency-key, if-match, if-none-match, \
                   last-event-id, x-api-key, x-request-id";
    let ok = preflight(&app, ALLOWED, "POST", headers).await;
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(ok.headers()["access-control-allow-origin"], ALLOWED);
    let methods = list(&ok, "access-control-allow-methods");
    for method in ["get", "post", "put", "patch", "delete"] {
        assert!(methods.contains(&method.to_owned()), "{methods:?}");
    }
    let allowed = list(&ok, "access-control-allow-headers");
    for header in headers.split(',').map(str::trim) {
        assert!(
            allowed.contains(&header.to_owned()),
            "{header} in {allowed:?}"
        );
    }

    let refused = preflight(&app, "https://evil.example.com", "POST", "authorization").await;
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-methods")
    );
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-headers")
    );
    let error = expect_status(refused, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        error["code"], "VALIDATION_ERROR",
        "the error format: {error}"
    );

    // Actual requests: allowed origins may read the API's headers; others get nothing.
    let response = app
        .request(Method::GET, "/api/workflows")
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let exposed = list(&response, "access-control-expose-headers");
    for header in [
        "etag",
        "location",
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ] {
        assert!(
            exposed.contains(&header.to_owned()),
            "{header} in {exposed:?}"
        );
    }
    let response = app
        .request(Method::GET, "/healthz")
        .header("Origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_origin_is_allowed_by_default() {
    let app = TestApp::spawn().await;
    let response = preflight(&app, ALLOWED, "GET", "content-type").await;
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_answers_are_not_cached_and_carry_security_headers() {
    let app = TestApp::spawn_authenticated().await;
    let token = app.admin_token().await;
    for response in [
        app.bearer(&token).get("/api/workflows").await,
        app.get("/api/workflows").await,
        app.get("/api/nowhere").await,
    ] {
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
    }
    let health = app.get("/healthz").await;
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    assert!(!health.headers().contains_key("cache-control"));
}
