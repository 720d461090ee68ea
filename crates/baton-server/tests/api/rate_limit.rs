//! Rate limits: per principal, per IP for anonymous calls (login included), with headers.

use baton_testkit::{ADMIN_EMAIL, Api, TestApp, expect_status};
use reqwest::{Response, StatusCode};

fn header(response: &Response, name: &str) -> u64 {
    response.headers()[name]
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_over_the_quota_gets_429_and_other_principals_are_unaffected() {
    let app = TestApp::spawn_authenticated_with(&[("BATON_RATE_LIMIT_PER_MINUTE", "5")]).await;
    // Three logins from this address (anonymous budget) and two admin calls.
    let admin = app.admin_token().await;
    let a = app.create_member(&admin, "a@baton.test").await;
    let b = app.create_member(&admin, "b@baton.test").await;

    let as_a = app.bearer(&a.token);
    for remaining in (0..5).rev() {
        let response = as_a.get("/api/workflows").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-limit"), 5);
        assert_eq!(header(&response, "ratelimit-remaining"), remaining);
        assert!(header(&response, "ratelimit-reset") <= 60);
    }
    let refused = as_a.get("/api/workflows").await;
    assert_eq!(header(&refused, "ratelimit-limit"), 5);
    assert_eq!(header(&refused, "ratelimit-remaining"), 0);
    let retry_after = header(&refused, "retry-after");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(header(&refused, "ratelimit-reset") >= retry_after);
    assert!(refused.headers().contains_key("x-request-id"));
    let error = expect_status(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(error["code"], "RATE_LIMITED");

    // B has a budget of their own.
    let response = app.bearer(&b.token).get("/api/workflows").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-remaining"), 4);
    // The probes are exempt.
    for _ in 0..10 {
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_calls_and_logins_share_a_budget_per_address() {
    let app = TestApp::spawn_authenticated_with(&[("BATON_RATE_LIMIT_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        let response = app.login_response(ADMIN_EMAIL, "guessing").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.login_response(ADMIN_EMAIL, "guessing").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // Requests with bad credentials spend the same budget.
    let response = app
        .request(reqwest::Method::GET, "/api/workflows")
        .header("Authorization", "Bearer forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}
