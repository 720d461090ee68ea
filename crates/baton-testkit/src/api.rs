//! Typed helpers for Baton's HTTP API, shared by everything a test can call it through: the
//! in-process app, an authenticated session, a `baton` child process.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::expect_status;

/// Something that sends requests to a Baton API.
#[allow(async_fn_in_trait)]
pub trait Api {
    /// A request to `path` (e.g. `/api/workflows`), with whatever credentials this caller has.
    fn request(&self, method: Method, path: &str) -> RequestBuilder;

    /// A GET; sent once more when the connection closed before any response came (a kept-alive
    /// connection the server closed as it was reused: a GET is safe to repeat).
    async fn get(&self, path: &str) -> Response {
        match self.request(Method::GET, path).send().await {
            Ok(response) => response,
            Err(err) if err.is_request() && !err.is_timeout() => self
                .request(Method::GET, path)
                .send()
                .await
                .expect("GET request, sent again"),
            Err(err) => panic!("GET request: {err:?}"),
        }
    }

    async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("DELETE request")
    }

    async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .json(body)
            .send()
            .await
            .expect("request with a JSON body")
    }

    async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PATCH, path, body).await
    }

    async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PUT, path, body).await
    }

    /// Creates a workflow and returns its JSON, failing the test unless it answers 201.
    async fn create_workflow(&self, body: &Value) -> Value {
        expect_status(
            self.post_json("/api/workflows", body).await,
            StatusCode::CREATED,
        )
        .await
    }

    /// Polls the workflow until its status is one of `statuses` (failing after `timeout`).
    async fn wait_for_workflow(
        &self,
        workflow_id: &str,
        statuses: &[&str],
        timeout: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let workflow = expect_status(
                self.get(&format!("/api/workflows/{workflow_id}")).await,
                StatusCode::OK,
            )
            .await;
            let status = workflow["status"].as_str().unwrap_or_default().to_owned();
            if statuses.contains(&status.as_str()) {
                return workflow;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "workflow {workflow_id} still {status} after {timeout:?}: {workflow}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
