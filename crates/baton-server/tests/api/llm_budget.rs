//! A workflow's budget for its llm calls: calls in flight together never go over it, the call
//! that would is not made and the run pauses, and raising the budget and resuming finishes it.

use baton_testkit::{Api, FakeLlm, Script, TestApp, expect_status, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};
use crate::streaming::llm_app;

/// Ten elements, each a call whose worst case is exactly what the fake provider reports for
/// it: a prompt of 15 characters (4 tokens, by the estimate and by the fake's count of one
/// message) and `max_tokens` 3 for the 3 tokens answered. 7 tokens each: 31 fits 4 of them.
fn ten_calls(max_tokens: u64) -> Value {
    json!({
        "name": "budgeted",
        "start": true,
        "input": {"items": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]},
        "budget": {"max_tokens": max_tokens},
        "tasks": [{"key": "tell", "type": "llm", "for_each": "{{ input.items }}", "max_parallel": 10,
                   "input": {"prompt": "Tell me about {{ item }}", "max_tokens": 3}}]
    })
}

async fn elements_completed(app: &TestApp, id: &str) -> usize {
    let tasks = expect_status(
        app.get(&format!("/api/tasks?workflow_id={id}&limit=100"))
            .await,
        StatusCode::OK,
    )
    .await;
    tasks["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["element_index"].is_number() && t["status"] == "completed")
        .count()
}

async fn status(app: &TestApp, id: &str) -> Value {
    expect_status(
        app.get(&format!("/api/workflows/{id}")).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_calls_stay_within_the_budget_pause_and_resume_when_it_is_raised() {
    let fake = FakeLlm::start().await;
    fake.script((0..10).map(|_| Script::reply(&["a", "b", "c"])));
    let app = llm_app(&fake, &[]).await;
    let wf = app.create_workflow(&ten_calls(31)).await;
    let id = id_of(&wf).to_owned();

    wait_until("the run pauses", WAIT, || async {
        status(&app, &id).await["status"] == "paused"
    })
    .await;
    wait_until("the calls that fit are done", WAIT, || async {
        elements_completed(&app, &id).await == 4
    })
    .await;
    assert_eq!(fake.requests().len(), 4, "exactly the calls that fit");
    let paused = status(&app, &id).await;
    assert_eq!(paused["status"], "paused", "{paused}");
    assert_eq!(paused["budget"], json!({"max_tokens": 31}));
    assert_eq!(paused["paused"]["needed"]["tokens"], 7, "{paused}");
    let listed = expect_status(
        app.get("/api/workflows?status=paused").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"][0]["id"], id.as_str(), "{listed}");
    let usage = expect_status(
        app.get(&format!("/api/workflows/{id}/usage")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(usage["total"]["calls"], 4, "{usage}");
    assert!(
        usage["total"]["prompt_tokens"].as_u64().unwrap()
            + usage["total"]["completion_tokens"].as_u64().unwrap()
            <= 31,
        "{usage}"
    );

    // Still too small: resuming pauses it again at once, making no call.
    let resumed = app
        .post_json(&format!("/api/workflows/{id}/resume"), &json!({}))
        .await;
    assert_eq!(resumed.status(), StatusCode::ACCEPTED);
    wait_until("paused again", WAIT, || async {
        status(&app, &id).await["status"] == "paused"
    })
    .await;
    assert_eq!(fake.requests().len(), 4, "no call went over the budget");

    let raised = app
        .patch_json(
            &format!("/api/workflows/{id}"),
            &json!({"budget": {"max_tokens": 1000}}),
        )
        .await;
    let raised = expect_status(raised, StatusCode::OK).await;
    assert_eq!(raised["budget"], json!({"max_tokens": 1000}));
    let resumed = app
        .post_json(&format!("/api/workflows/{id}/resume"), &json!({}))
        .await;
    expect_status(resumed, StatusCode::ACCEPTED).await;
    let done = app.wait_for_workflow(&id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["paused"], Value::Null);
    assert_eq!(fake.requests().len(), 10, "each element called once");
    assert_eq!(done["tasks"][0]["output"].as_array().unwrap().len(), 10);

    let usage = expect_status(
        app.get(&format!("/api/workflows/{id}/usage")).await,
        StatusCode::OK,
    )
    .await;
    let (prompt, completion) = fake.usage_sent();
    assert_eq!(usage["total"]["calls"], 10, "{usage}");
    assert_eq!(usage["total"]["prompt_tokens"], prompt, "{usage}");
    assert_eq!(usage["total"]["completion_tokens"], completion, "{usage}");

    let events =
        baton_testkit::sse::collect(app.get(&format!("/api/workflows/{id}/events")).await, WAIT)
            .await;
    let count = |kind: &str| events.iter().filter(|e| e.event == kind).count();
    assert!(count("budget.exceeded") >= 6, "{events:?}");
    assert_eq!(count("workflow.resumed"), 2);
    let exceeded = events
        .iter()
        .find(|e| e.event == "budget.exceeded")
        .unwrap();
    let data = &exceeded.data;
    assert!(
        data["task_id"].is_string() && data["index"].is_number(),
        "{data}"
    );
    assert_eq!(data["budget"], json!({"max_tokens": 31}));

    // Only a paused workflow resumes.
    let again = app
        .post_json(&format!("/api/workflows/{id}/resume"), &json!({}))
        .await;
    let conflict = expect_status(again, StatusCode::CONFLICT).await;
    assert_eq!(conflict["code"], "CONFLICT", "{conflict}");
    // A finished workflow's budget cannot change.
    let late = app
        .patch_json(
            &format!("/api/workflows/{id}"),
            &json!({"budget": {"max_tokens": 5}}),
        )
        .await;
    expect_status(late, StatusCode::CONFLICT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_budgets_are_refused_and_a_call_it_cannot_bound_fails_saying_why() {
    let fake = FakeLlm::start().await;
    let app = llm_app(&fake, &[]).await;
    for (budget, field) in [
        (json!({}), "budget"),
        (json!({"max_tokens": 0}), "budget.max_tokens"),
        (json!({"max_cost_usd": -1}), "budget.max_cost_usd"),
    ] {
        let mut body = ten_calls(1);
        body["budget"] = budget.clone();
        let refused = app.post_json("/api/workflows", &body).await;
        let refused = expect_status(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            refused["details"]["fields"][0]["field"], field,
            "{budget}: {refused}"
        );
    }
    let mut body = ten_calls(1);
    body["budget"] = json!({"max_tokens": 10, "tokens": 5});
    let refused = app.post_json("/api/workflows", &body).await;
    assert!(refused.status().is_client_error(), "{}", refused.status());
    let listed = expect_status(app.get("/api/workflows").await, StatusCode::OK).await;
    assert_eq!(listed["data"], json!([]), "nothing was created");

    // A token budget needs max_tokens; a cost budget needs a price.
    for budget in [json!({"max_tokens": 100}), json!({"max_cost_usd": 1.0})] {
        let body = json!({"name": "unbounded", "start": true, "budget": budget,
            "tasks": [{"type": "llm", "input": {"prompt": "hi"}}]});
        let wf = app.create_workflow(&body).await;
        let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
        assert_eq!(done["status"], "failed", "{done}");
        let error = &done["tasks"][0]["error"];
        assert_eq!(error["kind"], "llm_budget", "{error}");
        assert_eq!(error["retryable"], false);
    }
    assert!(fake.requests().is_empty(), "no call was made");
}
