//! What llm tasks' calls use and share: the usage ledger and its totals, the response cache,
//! and each model's limits shared by every instance (a 429 holds the model everywhere).

use std::time::{Duration, Instant};

use baton_testkit::{Api, FakeLlm, Script, TestApp, expect_status};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};
use crate::streaming::llm_app;

const PRICES: &str = r#"{"fake-model": {"input_per_mtok": 1000, "output_per_mtok": 2000}}"#;

fn llm_task(key: &str, prompt: &str, extra: Value) -> Value {
    let mut input = json!({"prompt": prompt});
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    json!({"key": key, "type": "llm", "input": input, "retry": {"max_attempts": 3, "initial_ms": 50}})
}

async fn run(app: &TestApp, tasks: Vec<Value>) -> Value {
    let wf = app
        .create_workflow(&json!({"name": "usage", "start": true, "tasks": tasks}))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    done
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    expect_status(response, StatusCode::OK).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_totals_what_the_provider_reported() {
    let fake = FakeLlm::start().await;
    // The second task asks twice: its first answer breaks the schema.
    fake.script([
        Script::reply(&["one", " two"]),
        Script::reply(&["not json"]),
        Script::reply(&["{\"ok\": true}"]),
    ]);
    let app = llm_app(&fake, &[("BATON_LLM_PRICES", PRICES)]).await;
    let schema = json!({"output_schema": {"type": "object"}});
    let done = run(
        &app,
        vec![
            llm_task("a", "first", json!({})),
            llm_task("b", "second", schema),
        ],
    )
    .await;
    let usage = get(&app, &format!("/api/workflows/{}/usage", id_of(&done))).await;
    let (prompt, completion) = fake.usage_sent();
    let total = &usage["total"];
    assert_eq!(total["calls"], 3, "{usage}");
    assert_eq!(total["prompt_tokens"], prompt, "{usage}");
    assert_eq!(total["completion_tokens"], completion, "{usage}");
    assert_eq!(total["estimated_calls"], 0);
    let by_task = |i: usize| &usage["by_task"][done["tasks"][i]["id"].as_str().unwrap()];
    assert_eq!(
        (by_task(0)["calls"].clone(), by_task(1)["calls"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(usage["by_model"]["fake-model"]["calls"], 3);
    // Priced at 1000 $ and 2000 $ per million prompt and completion tokens.
    let cost = prompt as f64 * 1000.0 / 1e6 + completion as f64 * 2000.0 / 1e6;
    assert!(
        (total["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9,
        "{usage}"
    );
    assert_eq!(total["unpriced_calls"], 0);

    // A stream cut before its usage: the call is a line too, its tokens estimated.
    fake.script([Script::Cut {
        tokens: vec!["half".into()],
    }]);
    let cut = run(&app, vec![llm_task("a", "third", json!({}))]).await;
    let usage = get(&app, &format!("/api/workflows/{}/usage", id_of(&cut))).await;
    assert_eq!(usage["total"]["calls"], 2, "{usage}");
    assert_eq!(usage["total"]["estimated_calls"], 1, "{usage}");

    let mine = get(&app, "/api/usage").await;
    assert_eq!(mine["total"]["calls"], 5, "{mine}");
    assert!(mine["by_task"].is_null());
    let later = get(
        &app,
        "/api/usage?from=2999-01-01T00:00:00Z&to=2999-02-01T00:00:00Z",
    )
    .await;
    assert_eq!(later["total"]["calls"], 0);
    let response = app
        .client
        .get(app.url("/api/usage?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let unknown = uuid::Uuid::now_v7();
    let response = app
        .client
        .get(app.url(&format!("/api/workflows/{unknown}/usage")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_cached_request_is_answered_once_by_the_provider() {
    let fake = FakeLlm::start().await;
    fake.script([Script::reply(&["cached", " answer"])]);
    let app = llm_app(&fake, &[]).await;
    let cached = || llm_task("a", "the same question", json!({"cache": true}));
    let first = run(&app, vec![cached()]).await;
    assert_eq!(first["tasks"][0]["output"]["cached"], false);
    let second = run(&app, vec![cached()]).await;
    let output = &second["tasks"][0]["output"];
    assert_eq!(output["cached"], true, "{output}");
    assert_eq!(output["text"], "cached answer");
    // Another instance (its memory empty) finds the answer in the store.
    let sibling = llm_app_on(&app, &fake, &[]).await;
    let third = run(&sibling, vec![cached()]).await;
    assert_eq!(third["tasks"][0]["output"]["cached"], true);
    assert_eq!(fake.requests().len(), 1, "one provider call in all");
    // A different request is not served from the cache.
    run(
        &app,
        vec![llm_task("a", "another question", json!({"cache": true}))],
    )
    .await;
    assert_eq!(fake.requests().len(), 2);
    let usage = get(&app, &format!("/api/workflows/{}/usage", id_of(&second))).await;
    assert_eq!(usage["total"]["cached_calls"], 1, "{usage}");
    assert_eq!(usage["total"]["cost_usd"], 0.0);
}

/// The most arrivals within any `window`.
fn densest(arrivals: &[Instant], window: Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|t| **t - sorted[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_a_models_request_limit() {
    let fake = FakeLlm::start().await;
    // 240 a minute: one call every 250 ms, whichever instance makes it.
    let limits = r#"{"fake-model": {"requests_per_minute": 240}}"#;
    let vars = [("BATON_LLM_LIMITS", limits), ("BATON_POLL_MS", "50")];
    let app = llm_app(&fake, &vars).await;
    let other = llm_app_on(&app, &fake, &vars).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let target = if i % 2 == 0 { &app } else { &other };
        let wf = target
            .create_workflow(&json!({"name": "paced", "start": true,
                "tasks": [llm_task("a", &format!("question {i}"), json!({}))]}))
            .await;
        ids.push(id_of(&wf).to_owned());
    }
    for id in &ids {
        let done = app.wait_for_workflow(id, DONE, WAIT).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.len(), 10);
    // A provider allowing 5 a second never sees more.
    assert!(
        densest(&arrivals, Duration::from_secs(1)) <= 5,
        "{arrivals:?}"
    );
}

async fn llm_app_on(app: &TestApp, fake: &FakeLlm, vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![
        ("BATON_LLM_BASE_URL", fake.base_url.as_str()),
        ("BATON_LLM_API_KEY", "sk-test"),
        ("BATON_LLM_MODEL", "fake-model"),
    ];
    all.extend_from_slice(vars);
    app.sibling(&all).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_holds_the_model_on_every_instance_without_using_attempts() {
    let fake = FakeLlm::start().await;
    fake.script([Script::rate_limited(2)]);
    let vars = [("BATON_POLL_MS", "50")];
    let app = llm_app(&fake, &vars).await;
    let other = llm_app_on(&app, &fake, &vars).await;
    let first = app
        .create_workflow(&json!({"name": "limited", "start": true,
            "tasks": [llm_task("a", "first", json!({}))]}))
        .await;
    // Once the 429 is in, a run on the other instance waits for the hold too.
    // Its ledger line is written once the model is held.
    baton_testkit::wait_until("the rate-limited call is in the ledger", WAIT, || async {
        app.count("llm_calls").await >= 1
    })
    .await;
    let limited_at = fake.arrivals()[0];
    let second = other
        .create_workflow(&json!({"name": "limited", "start": true,
            "tasks": [llm_task("a", "second", json!({}))]}))
        .await;
    for wf in [&first, &second] {
        let done = app.wait_for_workflow(id_of(wf), DONE, WAIT).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["tasks"][0]["attempt"], 1,
            "a rate limit uses no attempt"
        );
    }
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.len(), 3);
    for later in &arrivals[1..] {
        assert!(
            *later - limited_at >= Duration::from_millis(1_900),
            "a call {:?} after the 429",
            *later - limited_at
        );
    }
    assert!(app.events_of_type("task.retrying").await.is_empty());
}
