//! `GET /metrics`: scraped around runs, the counters move by the right amounts; each app has a
//! registry of its own, so these assertions hold while other tests run in the same process.

use std::collections::HashMap;

use baton_testkit::{Api, FakeLlm, Script, TestApp, expect_status, sse, wait_until};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};
use crate::streaming::llm_app;

/// Every sample of a scrape, by `name{labels}` as written.
pub struct Scrape(HashMap<String, f64>);

impl Scrape {
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (key, value) = line.rsplit_once(' ').expect("`name value`");
                (key.to_owned(), value.parse().expect("a number"))
            })
            .collect();
        Self(samples)
    }

    /// The sample's value (0 when absent: a counter not yet incremented).
    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
}

pub async fn scrape(api: &impl Api) -> Scrape {
    let response = api.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    Scrape::parse(&text)
}

fn moved(before: &Scrape, after: &Scrape, key: &str) -> f64 {
    after.get(key) - before.get(key)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_task_run_moves_the_task_counters_by_type_and_http_counts_route_patterns() {
    let app = TestApp::spawn().await;
    let before = scrape(&app).await;
    let created = app
        .create_workflow(&json!({
            "name": "three", "start": true,
            "tasks": [
                {"type": "transform", "input": {"jq": "1"}},
                {"type": "transform", "input": {"jq": ".prev + 1"}},
                {"type": "store", "input": {"collection": "m", "document": {"n": "{{ prev }}"}}}
            ]
        }))
        .await;
    let id = id_of(&created).to_owned();
    app.wait_for_workflow(&id, DONE, WAIT).await;
    let polled = expect_status(
        app.get(&format!("/api/workflows/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(polled["status"], "completed");
    let missing = app
        .get("/api/workflows/0193b2f4-0000-7000-8000-000000000000")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.get("/no/such/path").await;
    let after = scrape(&app).await;

    for (task_type, n) in [("transform", 2.0), ("store", 1.0)] {
        let labels = format!("{{type=\"{task_type}\"}}");
        assert_eq!(
            moved(
                &before,
                &after,
                &format!("baton_tasks_started_total{labels}")
            ),
            n
        );
        assert_eq!(
            moved(
                &before,
                &after,
                &format!("baton_tasks_completed_total{labels}")
            ),
            n
        );
        assert_eq!(
            moved(
                &before,
                &after,
                &format!("baton_tasks_failed_total{labels}")
            ),
            0.0
        );
        assert_eq!(
            moved(
                &before,
                &after,
                &format!(
                    "baton_task_duration_seconds_count{{type=\"{task_type}\",outcome=\"completed\"}}"
                )
            ),
            n
        );
    }
    assert_eq!(
        moved(
            &before,
            &after,
            r#"baton_http_requests_total{method="POST",route="/api/workflows",status="201"}"#
        ),
        1.0
    );
    let gets =
        r#"baton_http_requests_total{method="GET",route="/api/workflows/{id}",status="200"}"#;
    assert!(
        moved(&before, &after, gets) >= 2.0,
        "the waits' polls and one more"
    );
    assert_eq!(
        moved(
            &before,
            &after,
            r#"baton_http_requests_total{method="GET",route="/api/workflows/{id}",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        moved(
            &before,
            &after,
            r#"baton_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        after.get(r#"baton_http_requests_total{method="GET",route="/metrics",status="200"}"#),
        1.0,
        "the first scrape, counted once it was answered"
    );
    assert!(
        after
            .keys()
            .all(|k| !k.contains(&id) && !k.contains("/no/such")),
        "no series names a raw path"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_and_failures_are_counted_by_type() {
    let target = MockServer::start().await;
    Mock::given(path("/down"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&target)
        .await;
    let app = TestApp::spawn().await;
    let created = app
        .create_workflow(&json!({
            "name": "down", "start": true,
            "tasks": [{"type": "fetch", "input": {"url": format!("{}/down", target.uri())},
                       "retry": {"max_attempts": 3, "initial_ms": 10, "max_ms": 20}}]
        }))
        .await;
    let done = app.wait_for_workflow(id_of(&created), DONE, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    let after = scrape(&app).await;
    assert_eq!(after.get(r#"baton_tasks_started_total{type="fetch"}"#), 3.0);
    assert_eq!(after.get(r#"baton_tasks_retried_total{type="fetch"}"#), 2.0);
    assert_eq!(after.get(r#"baton_tasks_failed_total{type="fetch"}"#), 1.0);
    assert_eq!(
        after.get(r#"baton_tasks_completed_total{type="fetch"}"#),
        0.0
    );
    assert_eq!(
        after.get(r#"baton_task_duration_seconds_count{type="fetch",outcome="retried"}"#),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_depth_and_the_oldest_age_are_counted_at_each_scrape() {
    // No workers: started workflows' first tasks wait in the queue.
    let app = TestApp::spawn_with(&[("BATON_WORKERS", "0")]).await;
    let empty = scrape(&app).await;
    assert_eq!(empty.get("baton_queue_depth"), 0.0);
    assert_eq!(empty.get("baton_queue_oldest_age_seconds"), 0.0);
    for name in ["a", "b"] {
        app.create_workflow(&json!({"name": name, "start": true,
            "tasks": [{"type": "transform", "input": {"jq": "1"}}, {"type": "transform", "input": {"jq": "2"}}]}))
            .await;
    }
    app.create_workflow(&json!({"name": "not started",
        "tasks": [{"type": "transform", "input": {"jq": "1"}}]}))
        .await;
    let two = scrape(&app).await;
    assert_eq!(
        two.get("baton_queue_depth"),
        2.0,
        "the first task of each started run"
    );
    wait_until("the oldest has waited a while", WAIT, || async {
        scrape(&app).await.get("baton_queue_oldest_age_seconds") >= 0.05
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn open_event_streams_are_counted_while_they_last() {
    let app = TestApp::spawn().await;
    let created = app
        .create_workflow(&json!({"name": "nap", "start": true,
            "tasks": [{"type": "sleep", "input": {"for_ms": 3_600_000}}]}))
        .await;
    let id = id_of(&created).to_owned();
    assert_eq!(scrape(&app).await.get("baton_sse_clients"), 0.0);
    let stream = app.get(&format!("/api/workflows/{id}/events")).await;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut events = sse::events(stream);
    let _first = futures_util::StreamExt::next(&mut events).await;
    assert_eq!(scrape(&app).await.get("baton_sse_clients"), 1.0);
    drop(events);
    wait_until("the closed stream is no longer counted", WAIT, || async {
        scrape(&app).await.get("baton_sse_clients") == 0.0
    })
    .await;
    app.post_json(&format!("/api/workflows/{id}/cancel"), &json!({}))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn llm_tokens_are_counted_by_model_from_the_task_usage() {
    let fake = FakeLlm::start().await;
    fake.script([Script::reply(&["one ", "two ", "three"])]);
    let app = llm_app(&fake, &[]).await;
    let created = app
        .create_workflow(&json!({"name": "llm", "start": true,
            "tasks": [{"type": "llm", "input": {"prompt": "count"}}]}))
        .await;
    let done = app.wait_for_workflow(id_of(&created), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    let usage = &done["tasks"][0]["output"]["usage"];
    let after = scrape(&app).await;
    assert_eq!(
        after.get(r#"baton_llm_tokens_total{model="fake-model",kind="completion"}"#),
        usage["completion_tokens"].as_f64().unwrap()
    );
    assert_eq!(
        after.get(r#"baton_llm_tokens_total{model="fake-model",kind="prompt"}"#),
        usage["prompt_tokens"].as_f64().unwrap()
    );
    assert!(after.get(r#"baton_llm_tokens_total{model="fake-model",kind="prompt"}"#) > 0.0);
    assert!(
        after
            .keys()
            .all(|k| !k.starts_with("baton_llm_cost_usd_total")),
        "the model has no price, so no cost series"
    );

    // Priced, the cost is the ledger's.
    let fake = FakeLlm::start().await;
    fake.script([Script::reply(&["one ", "two"])]);
    let prices = r#"{"fake-model": {"input_per_mtok": 1000, "output_per_mtok": 2000}}"#;
    let app = llm_app(&fake, &[("BATON_LLM_PRICES", prices)]).await;
    let created = app
        .create_workflow(&json!({"name": "priced", "start": true,
            "tasks": [{"type": "llm", "input": {"prompt": "count"}}]}))
        .await;
    let done = app.wait_for_workflow(id_of(&created), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    let usage = expect_status(
        app.get(&format!("/api/workflows/{}/usage", id_of(&created)))
            .await,
        StatusCode::OK,
    )
    .await;
    let cost = scrape(&app)
        .await
        .get(r#"baton_llm_cost_usd_total{model="fake-model"}"#);
    let ledger = usage["total"]["cost_usd"].as_f64().unwrap();
    assert!(ledger > 0.0, "{usage}");
    assert!((cost - ledger).abs() < 1e-9, "{cost} vs {ledger}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_authentication_only_administrators_scrape() {
    let app = TestApp::spawn_authenticated().await;
    let anonymous = app.get("/metrics").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED");
    let admin = app.admin_token().await;
    let member = app.create_member(&admin, "m@baton.test").await;
    let refused = app.bearer(&member.token).get("/metrics").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let key = app.bearer(&admin).create_api_key("prometheus").await;
    let as_key = app
        .api_key(key["key"].as_str().unwrap())
        .get("/metrics")
        .await;
    assert_eq!(as_key.status(), StatusCode::OK);
    assert_eq!(as_key.headers()["cache-control"], "no-store");
}
