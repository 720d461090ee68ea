//! LLM tasks' provider errors and retries, and /api/completions.

use std::time::Duration;

use baton_testkit::sse::{self};
use baton_testkit::{Api, FakeLlm, Script, TestApp, expect_status};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};
use crate::streaming::{llm_app, llm_workflow};

#[tokio::test(flavor = "multi_thread")]
async fn a_429_is_called_again_after_the_stated_delay_within_the_attempt() {
    let fake = FakeLlm::start().await;
    fake.script([Script::rate_limited(2), Script::reply(&["ok"])]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["tasks"][0]["attempt"], 1,
        "a rate limit uses no attempt"
    );
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.len(), 2);
    let gap = arrivals[1] - arrivals[0];
    assert!(gap >= Duration::from_secs(2), "called again after {gap:?}");
    assert!(app.events_of_type("task.retrying").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_stream_is_retried_as_a_new_attempt_marked_on_the_stream() {
    let fake = FakeLlm::start().await;
    fake.script([
        Script::Cut {
            tokens: vec!["Par".into(), "tial".into()],
        },
        Script::reply(&["Whole", " answer"]),
    ]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let id = id_of(&wf);
    let events = sse::collect(
        app.client
            .get(app.url(&format!("/api/workflows/{id}/events")))
            .send()
            .await
            .unwrap(),
        WAIT,
    )
    .await;
    let marks: Vec<(String, i64)> = events
        .iter()
        .filter(|e| e.event.starts_with("task."))
        .map(|e| (e.event.clone(), e.data["attempt"].as_i64().unwrap_or(-1)))
        .collect();
    let attempt_of = |kind: &str| {
        marks
            .iter()
            .filter(|(t, _)| t == kind)
            .map(|(_, a)| *a)
            .collect::<Vec<_>>()
    };
    assert_eq!(attempt_of("task.started"), [1, 2]);
    assert_eq!(attempt_of("task.retrying"), [1]);
    // Attempt 1's text is void: a rewind comes before attempt 2's first delta.
    assert_eq!(attempt_of("task.rewind"), [2]);
    let rewind = marks.iter().position(|(t, _)| t == "task.rewind").unwrap();
    let first_of_2 = marks
        .iter()
        .position(|(t, a)| t == "task.delta" && *a == 2)
        .unwrap();
    assert!(rewind < first_of_2, "{marks:?}");
    let text_of = |attempt: i64| -> String {
        events
            .iter()
            .filter(|e| e.event == "task.delta" && e.data["attempt"] == attempt)
            .map(|e| e.data["text"].as_str().unwrap())
            .collect()
    };
    assert_eq!(
        text_of(1),
        "Partial",
        "what the client saw of attempt 1 is kept"
    );
    assert_eq!(text_of(2), "Whole answer");
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["output"]["text"], "Whole answer");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_stream_times_out_and_is_retried() {
    let fake = FakeLlm::start().await;
    fake.script([
        Script::Stall {
            tokens: vec!["Hmm".into()],
        },
        Script::reply(&["Done"]),
    ]);
    let app = llm_app(&fake, &[("BATON_LLM_IDLE_TIMEOUT_MS", "300")]).await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"]["text"], "Done");
    let retrying = app.events_of_type("task.retrying").await;
    assert!(
        retrying[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stalled"),
        "{retrying:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_400_fails_at_once_with_the_providers_message() {
    let fake = FakeLlm::start().await;
    fake.script([Script::error(400, "max_tokens is too large for this model")]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "failed");
    let error = &done["tasks"][0]["error"];
    assert_eq!(error["retryable"], false);
    assert_eq!(error["status"], 400);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens is too large"),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_content_filter_refusal_is_not_retried() {
    let fake = FakeLlm::start().await;
    fake.script([Script::Refuse]);
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&llm_workflow(true)).await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["tasks"][0]["error"]["kind"], "llm_refused");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_whole_and_streamed() {
    let fake = FakeLlm::start().await;
    let app = llm_app(&fake, &[]).await;
    let whole = expect_status(
        app.post_json("/api/completions", &json!({"prompt": "Say hello"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(whole["text"], "Hello, world");
    assert_eq!(whole["model"], "fake-model");
    assert_eq!(whole["finish_reason"], "stop");
    assert_eq!(whole["usage"]["completion_tokens"], 3);
    assert_eq!(fake.requests()[0]["stream"], false);

    let streamed = app
        .post_json("/api/completions", &json!({"messages": [{"role": "user", "content": "hi"}], "stream": true, "model": "other"}))
        .await;
    let frames = sse::collect(streamed, WAIT).await;
    let raw: Vec<&str> = frames.iter().map(|f| f.raw.as_str()).collect();
    assert_eq!(raw.last(), Some(&"[DONE]"));
    let text: String = frames[..frames.len() - 1]
        .iter()
        .map(|f| f.data["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello, world");
    assert_eq!(fake.requests()[1]["model"], "other");

    let invalid = app
        .post_json("/api/completions", &json!({"temperature": 7}))
        .await;
    let error = expect_status(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error["code"], "VALIDATION_ERROR");
    fake.script([Script::error(401, "Incorrect API key provided")]);
    let refused = app
        .post_json("/api/completions", &json!({"prompt": "x"}))
        .await;
    let error = expect_status(refused, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("Incorrect API key"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_leaving_a_streamed_completion_stops_the_upstream_call() {
    let fake = FakeLlm::start().await;
    let many: Vec<String> = (0..100).map(|i| format!("w{i} ")).collect();
    fake.script([Script::Reply {
        tokens: many,
        delay: Duration::from_millis(50),
    }]);
    let app = llm_app(&fake, &[]).await;
    let response = app
        .post_json(
            "/api/completions",
            &json!({"prompt": "long", "stream": true}),
        )
        .await;
    let mut frames = sse::events(response);
    frames.next().await.expect("a first frame");
    frames.next().await.expect("a second frame");
    drop(frames);
    for _ in 0..100 {
        if fake.abandoned_streams() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        fake.abandoned_streams(),
        1,
        "the upstream stream was dropped"
    );
    assert!(fake.chunks_sent() < 100, "sent {}", fake.chunks_sent());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_model_baton_starts_and_says_what_to_set() {
    let app = TestApp::spawn().await;
    let error = expect_status(
        app.post_json("/api/completions", &json!({"prompt": "hi"}))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(error["code"], "UNAVAILABLE");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("BATON_LLM_BASE_URL"),
        "{error}"
    );

    // An llm workflow is refused when it is created (it used to fail when it ran), saying the same.
    let before = app.snapshot().await;
    let error = expect_status(
        app.post_json("/api/workflows", &llm_workflow(true)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let field = &error["details"]["fields"][0];
    assert_eq!(field["field"], "tasks[0].type", "{error}");
    assert!(
        field["message"]
            .as_str()
            .unwrap()
            .contains("BATON_LLM_API_KEY"),
        "{error}"
    );
    assert_eq!(app.snapshot().await, before);
}
