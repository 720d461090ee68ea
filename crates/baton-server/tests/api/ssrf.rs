//! The SSRF guard end to end: with `BATON_FETCH_ALLOW_PRIVATE` off, fetch tasks to loopback fail
//! at once and nothing reaches the local target. (Every range is unit-tested on the classifier in
//! baton-fetch; no test sends traffic to a non-loopback address.)

use baton_testkit::{Api, TestApp};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn fetch_tasks_to_loopback_fail_at_once_with_a_clear_permanent_error() {
    let app = TestApp::spawn_with(&[("BATON_FETCH_ALLOW_PRIVATE", "false")]).await;
    let target = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&target)
        .await;
    let port = target.address().port();
    for (url, address) in [
        (format!("http://127.0.0.1:{port}/secret"), "127.0.0.1"),
        (format!("http://[::1]:{port}/secret"), "::1"),
        (
            format!("http://localhost:{port}/secret"),
            "localhost resolves to",
        ),
        (format!("http://0x7f.1:{port}/secret"), "127.0.0.1"),
    ] {
        let created = app
            .create_workflow(&json!({
                "name": "ssrf",
                "start": true,
                "tasks": [{"type": "fetch", "input": {"url": url}, "retry": {"max_attempts": 5}}]
            }))
            .await;
        let done = app.wait_for_workflow(id_of(&created), DONE, WAIT).await;
        assert_eq!(done["status"], "failed", "{url}: {done}");
        let task = &done["tasks"][0];
        assert_eq!(task["attempt"], 1, "{url}: not retried");
        let error = &task["error"];
        assert_eq!(error["kind"], "blocked", "{url}: {error}");
        assert_eq!(error["retryable"], false, "{url}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(address), "{url}: {message}");
        assert!(message.contains("loopback"), "{url}: {message}");
        assert!(
            message.contains("BATON_FETCH_ALLOW_PRIVATE"),
            "{url}: {message}"
        );
    }
    assert!(
        target.received_requests().await.unwrap().is_empty(),
        "the local target received nothing"
    );
}
