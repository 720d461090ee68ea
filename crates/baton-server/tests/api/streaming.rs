//! LLM tasks streamed live over SSE: order, resume with Last-Event-ID, other instances, many clients.

use std::collections::HashSet;
use std::time::Duration;

use baton_testkit::sse::{self, SseEvent};
use baton_testkit::{Api, FakeLlm, Script, TestApp, wait_until};
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};

pub async fn llm_app(fake: &FakeLlm, vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![
        ("BATON_LLM_BASE_URL", fake.base_url.as_str()),
        ("BATON_LLM_API_KEY", "sk-test"),
        ("BATON_LLM_MODEL", "fake-model"),
    ];
    all.extend_from_slice(vars);
    TestApp::spawn_with(&all).await
}

pub fn llm_workflow(start: bool) -> Value {
    json!({
        "name": "story",
        "input": {"topic": "foxes"},
        "start": start,
        "tasks": [{"key": "story", "type": "llm",
                   "input": {"prompt": "Tell me about {{ input.topic }}", "system": "Be brief", "max_tokens": 64},
                   "retry": {"max_attempts": 3, "initial_ms": 50, "max_ms": 100}}]
    })
}

fn tokens(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("tok{i} ")).collect()
}

fn slow(tokens: &[String], ms: u64) -> Script {
    Script::Reply {
        tokens: tokens.to_vec(),
        delay: Duration::from_millis(ms),
    }
}

fn deltas(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event == "task.delta")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect()
}

async fn subscribe(
    app: &TestApp,
    workflow_id: &str,
    last_event_id: Option<i64>,
) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/api/workflows/{workflow_id}/events")));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    request
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap()
}

async fn start(app: &TestApp, workflow_id: &str) {
    let response = app
        .post_json(&format!("/api/workflows/{workflow_id}/start"), &json!({}))
        .await;
    assert_eq!(response.status(), 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_llm_workflow_streams_its_deltas_in_order_and_the_text_is_their_concatenation() {
    let fake = FakeLlm::start().await;
    let words = tokens(12);
    fake.script([slow(&words, 40)]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(false)).await;
    let id = id_of(&wf);
    let stream = subscribe(&app, id, None).await;
    start(&app, id).await;
    let events = sse::collect(stream, WAIT).await;

    let types: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(types.first(), Some(&"workflow.started"));
    assert_eq!(types[1], "task.started");
    assert_eq!(
        &types[types.len() - 2..],
        ["task.completed", "workflow.completed"]
    );
    assert!(
        types[2..types.len() - 2].iter().all(|t| *t == "task.delta"),
        "{types:?}"
    );
    let delta_count = types.iter().filter(|t| **t == "task.delta").count();
    assert!(
        delta_count >= 2,
        "deltas are coalesced, not one per stream: {delta_count}"
    );
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e.id.expect("every event has an id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    let output = &done["tasks"][0]["output"];
    assert_eq!(output["text"], words.concat());
    assert_eq!(
        deltas(&events),
        words.concat(),
        "the text is the concatenation of the deltas"
    );
    assert_eq!(output["model"], "fake-model");
    assert_eq!(output["finish_reason"], "stop");
    assert_eq!(output["usage"]["completion_tokens"], 12);
    assert!(output["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let sent = &fake.requests()[0];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": "Tell me about foxes"}
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_with_last_event_id_gets_every_missed_event_exactly_once() {
    let fake = FakeLlm::start().await;
    fake.script([slow(&tokens(20), 60)]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let id = id_of(&wf);

    let mut first = sse::events(subscribe(&app, id, None).await);
    let mut seen = Vec::new();
    while seen.len() < 4 {
        seen.push(first.next().await.expect("an event"));
    }
    drop(first);
    // Events go on being recorded while the client is away.
    let away = seen.len() + 2;
    wait_until("more events were recorded", WAIT, || async {
        app.events(id).await.len() >= away
    })
    .await;
    let last = seen.last().unwrap().id.unwrap();
    let rest = sse::collect(subscribe(&app, id, Some(last)).await, WAIT).await;
    seen.extend(rest);

    let full = sse::collect(subscribe(&app, id, None).await, WAIT).await;
    let ids = |events: &[SseEvent]| events.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>();
    assert_eq!(ids(&seen), ids(&full), "every event once, in order");
    assert_eq!(
        ids(&seen).into_iter().collect::<HashSet<_>>().len(),
        seen.len()
    );
    assert_eq!(seen.last().unwrap().event, "workflow.completed");
    assert_eq!(deltas(&seen), tokens(20).concat());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_of_instance_b_sees_the_events_of_a_workflow_run_by_instance_a() {
    let fake = FakeLlm::start().await;
    fake.script([slow(&tokens(6), 30)]);
    let a = llm_app(&fake, &[]).await;
    let b = a.sibling(&[("BATON_WORKERS", "0")]).await;
    let wf = a.create_workflow(&llm_workflow(false)).await;
    let id = id_of(&wf);
    let on_b = subscribe(&b, id, None).await;
    start(&a, id).await;
    let events = sse::collect(on_b, WAIT).await;
    assert_eq!(events.last().unwrap().event, "workflow.completed");
    assert_eq!(deltas(&events), tokens(6).concat());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_clients_on_one_workflow_all_receive_the_full_stream() {
    let fake = FakeLlm::start().await;
    fake.script([slow(&tokens(10), 50)]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(false)).await;
    let id = id_of(&wf);
    let streams = join_all((0..200).map(|_| subscribe(&app, id, None))).await;
    start(&app, id).await;
    let received = join_all(streams.into_iter().map(|s| sse::collect(s, WAIT))).await;

    let full = sse::collect(subscribe(&app, id, None).await, WAIT).await;
    let expected: Vec<_> = full
        .iter()
        .map(|e| (e.id, e.event.clone(), e.raw.clone()))
        .collect();
    assert_eq!(expected.last().unwrap().1, "workflow.completed");
    for events in received {
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.id, e.event.clone(), e.raw.clone()))
            .collect();
        assert_eq!(got, expected);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finished_workflow_replays_and_ends_and_bad_requests_are_refused() {
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(&json!({"name": "t", "start": true, "tasks": [{"type": "transform", "input": {"jq": "1"}}]}))
        .await;
    let id = id_of(&wf);
    app.wait_for_workflow(id, DONE, WAIT).await;
    let events = sse::collect(subscribe(&app, id, None).await, WAIT).await;
    let types: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        types,
        [
            "workflow.started",
            "task.started",
            "task.completed",
            "workflow.completed"
        ]
    );
    assert_eq!(events[2].data["output"], 1);

    // Resuming after the last event of a finished workflow ends at once, empty.
    let rest = sse::collect(subscribe(&app, id, events.last().unwrap().id).await, WAIT).await;
    assert!(rest.is_empty());

    let bad = app
        .client
        .get(app.url(&format!("/api/workflows/{id}/events")))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let missing = app
        .get("/api/workflows/0193b2f4-0000-7000-8000-000000000000/events")
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_follow_events_with_an_access_token_in_the_query_only_there() {
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let ada = app.create_member(&admin, "ada@example.com").await;
    let bob = app.create_member(&admin, "bob@example.com").await;
    let wf = app
        .bearer(&ada.token)
        .create_workflow(&json!({"name": "w", "start": true, "tasks": [{"type": "transform", "input": {"jq": "1"}}]}))
        .await;
    let id = id_of(&wf);
    app.bearer(&ada.token)
        .wait_for_workflow(id, DONE, WAIT)
        .await;

    let path = format!("/api/workflows/{id}/events");
    let events = sse::collect(
        app.get(&format!("{path}?access_token={}", ada.token)).await,
        WAIT,
    )
    .await;
    assert_eq!(events.last().unwrap().event, "workflow.completed");

    assert_eq!(app.get(&path).await.status(), 401);
    assert_eq!(
        app.get(&format!("{path}?access_token=forged"))
            .await
            .status(),
        401
    );
    let other = app.get(&format!("{path}?access_token={}", bob.token)).await;
    assert_eq!(
        other.status(),
        404,
        "another member's workflow stays hidden"
    );
    let elsewhere = app
        .get(&format!("/api/workflows/{id}?access_token={}", ada.token))
        .await;
    assert_eq!(
        elsewhere.status(),
        401,
        "query tokens are accepted on the events stream only"
    );
}
