//! The dashboard's files as served: each with its type and a policy that allows nothing from
//! other origins.

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_is_served_with_a_policy_that_allows_nothing_from_elsewhere() {
    let app = TestApp::spawn_authenticated().await;
    for asset in baton_server::dashboard::ASSETS {
        let response = app.get(asset.path).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", asset.path);
        let headers = response.headers();
        assert_eq!(
            headers["content-type"], asset.content_type,
            "{}",
            asset.path
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(response.text().await.unwrap(), asset.body);
    }
    let wrong = app.request(Method::POST, "/").send().await.unwrap();
    let error = expect_status(wrong, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(error["code"], "METHOD_NOT_ALLOWED");
    let missing = app.get("/ui/nothing.js").await;
    expect_status(missing, StatusCode::NOT_FOUND).await;
}
