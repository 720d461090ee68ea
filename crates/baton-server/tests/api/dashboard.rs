//! The dashboard in a real headless Chromium against the real app: live runs, streamed tokens,
//! actions by clicking, signing in. Each test saves a screenshot of each page it visits under
//! `target/artifacts/dashboard/` and fails on any console error or CSP violation.

use std::time::Duration;

use baton_testkit::{Api, FakeLlm, MEMBER_PASSWORD, Script, TestApp, expect_status, wait_until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::browser::{Browser, WAIT};
use crate::helpers::{id_of, workflow_body};
use crate::runs::DONE;
use crate::streaming::llm_app;

/// The row of a workflow on the runs page.
fn row(id: &str) -> String {
    format!("#runs tr[data-id=\"{id}\"]")
}

/// An LLM workflow that fails at its first error (one attempt).
fn story(start: bool) -> Value {
    json!({
        "name": "story of foxes",
        "input": {"topic": "foxes"},
        "start": start,
        "tasks": [{"key": "story", "type": "llm",
                   "input": {"prompt": "Tell me about {{ input.topic }}", "max_tokens": 64},
                   "retry": {"max_attempts": 1}}]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_created_through_the_api_appears_without_a_reload() {
    let Some(mut browser) = Browser::start("runs").await else {
        return;
    };
    let app = TestApp::spawn().await;
    let older = app.create_workflow(&workflow_body("daily digest", 1)).await;
    browser.goto(&app.url("/")).await;
    browser
        .wait_for_text(&row(id_of(&older)), "daily digest")
        .await;
    // Anything the page keeps is lost on a reload: this marker tells there was none.
    browser.run("window.notReloaded = true;", json!([])).await;

    let mut body = workflow_body("Nightly REPORT", 2);
    body["start"] = json!(true);
    let created = app.create_workflow(&body).await;
    let id = id_of(&created);
    browser.wait_for_text(&row(id), "Nightly REPORT").await;
    browser.wait_for_text(&row(id), "completed").await;
    browser.wait_for_text(&row(id), "2/2").await;
    assert_eq!(
        browser
            .run("return window.notReloaded === true;", json!([]))
            .await,
        json!(true),
        "the page was not reloaded"
    );
    let order = browser
        .run(
            "return [...document.querySelectorAll('#runs tr')].map(r => r.dataset.id);",
            json!([]),
        )
        .await;
    assert_eq!(order, json!([id, id_of(&older)]), "newest first");
    browser.screenshot("runs").await;

    // Search by name (case ignored) and filter by status.
    browser.type_into("#name-filter", "report").await;
    browser
        .wait_for(
            "only the report is listed",
            "return document.querySelectorAll('#runs tr').length === 1",
        )
        .await;
    browser.wait_for_text("#runs", "Nightly REPORT").await;
    browser.type_into("#name-filter", "").await;
    browser.select("#status-filter", "pending").await;
    browser.wait_for_text("#runs", "daily digest").await;
    browser
        .wait_for(
            "only the pending digest is listed",
            "return document.querySelectorAll('#runs tr').length === 1",
        )
        .await;

    // The run page, from the list.
    browser.select("#status-filter", "").await;
    browser.click(&format!("{} a", row(id))).await;
    browser
        .wait_for_text("#run-head h1", "Nightly REPORT")
        .await;
    browser.wait_for_text("#timeline", "t1").await;
    browser.wait_for_text("#events", "workflow.completed").await;
    browser.screenshot("run").await;
    browser.assert_clean_console(&[]).await;

    // The console check sees a CSP violation: an inline script is refused.
    browser
        .run(
            "const s = document.createElement('script'); s.textContent = 'window.ran = 1'; \
             document.body.append(s);",
            json!([]),
        )
        .await;
    assert_eq!(
        browser
            .run("return window.ran === undefined;", json!([]))
            .await,
        json!(true),
        "the inline script did not run"
    );
    browser
        .wait_for_console("a CSP violation", |e| {
            e["level"] == "SEVERE"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Content Security Policy"))
        })
        .await;

    // `/docs` leads the browser to the API reference.
    browser.goto(&app.url("/docs")).await;
    browser.wait_for_text(".swagger-ui .title", "Baton").await;
    let at = browser.run("return location.pathname;", json!([])).await;
    assert_eq!(at, json!("/docs/"));
}

#[tokio::test(flavor = "multi_thread")]
async fn llm_tokens_stream_into_the_run_page_as_they_arrive() {
    let Some(mut browser) = Browser::start("tokens").await else {
        return;
    };
    let fake = FakeLlm::start().await;
    let tokens: Vec<String> = (0..12).map(|i| format!("fox{i} ")).collect();
    fake.script([Script::Reply {
        tokens: tokens.clone(),
        delay: Duration::from_millis(250),
    }]);
    let app = llm_app(&fake, &[]).await;
    // A graph: the story and the tags both need the topic; the summary needs the story.
    let step = |key: &str, deps: &[&str], jq: &str| json!({"key": key, "type": "transform", "depends_on": deps, "input": {"jq": jq}});
    let created = app
        .create_workflow(&json!({
            "name": "story of foxes",
            "input": {"topic": "foxes"},
            "tasks": [
                step("topic", &[], "{topic: .input.topic}"),
                {"key": "story", "type": "llm", "depends_on": ["topic"],
                 "input": {"prompt": "Tell me about {{ steps.topic.output.topic }}", "max_tokens": 64}},
                step("tags", &["topic"], "[.steps.topic.output.topic]"),
                step("summary", &["story"], ".steps.story.output.text | length"),
            ]
        }))
        .await;
    let id = id_of(&created);
    let task = created["tasks"][1]["id"].as_str().unwrap();
    browser.goto(&app.url(&format!("/#/runs/{id}"))).await;
    browser.wait_for_text("#run-head h1", "pending").await;
    browser.click("#start").await;
    browser.wait_for_text("#action-answer", "202").await;

    // Part of the text while the model is still answering, then all of it.
    let stream = format!("#tokens-{task}");
    wait_until("some tokens are shown, not all", WAIT, || async {
        let text = browser.visible_text(&stream).await.unwrap_or_default();
        text.starts_with("fox0 fox1 fox2 ") && !text.contains("fox11")
    })
    .await;
    browser.screenshot("streaming").await;
    let full: String = tokens.concat();
    browser.wait_for_text(&stream, &full).await;
    browser.wait_for_text("#run-head h1", "completed").await;
    browser.wait_for_text("#events", "task.delta").await;
    browser.wait_for_text("#tasks", "Resolved input").await;
    browser.wait_for_text("#tasks", "Tell me about foxes").await;
    browser.wait_for_text("#graph", "summary · completed").await;
    browser.screenshot("run").await;
    browser.assert_clean_console(&[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retrying_a_failed_run_by_clicking_completes_it_and_a_409_is_shown() {
    let Some(mut browser) = Browser::start("retry").await else {
        return;
    };
    let fake = FakeLlm::start().await;
    fake.script([
        Script::error(400, "the model is overloaded with foxes"),
        Script::reply(&["all ", "better"]),
    ]);
    let app = llm_app(&fake, &[]).await;
    let created = app.create_workflow(&story(true)).await;
    let id = id_of(&created);
    let failed = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(failed["status"], "failed");

    browser.goto(&app.url(&format!("/#/runs/{id}"))).await;
    browser.wait_for_text("#run-head h1", "failed").await;
    browser
        .wait_for_text("#tasks", "the model is overloaded with foxes")
        .await;
    browser.screenshot("failed").await;
    browser.click("#retry").await;
    browser.wait_for_text("#action-answer", "202").await;
    browser.wait_for_text("#run-head h1", "completed").await;
    browser.wait_for_text("#tasks", "all better").await;
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed");

    // A completed run cannot be retried: the API's 409 and its message are shown.
    browser.click("#retry").await;
    browser
        .wait_for_text("#action-answer", "409 CONFLICT")
        .await;
    let shown = browser.text("#action-answer").await.unwrap();
    let answer = expect_status(
        app.request(Method::POST, &format!("/api/workflows/{id}/retry"))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        shown.contains(answer["error"].as_str().unwrap()),
        "{shown} shows {answer}"
    );
    browser.screenshot("conflict").await;
    browser.assert_clean_console(&[409]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_shows_only_the_callers_runs() {
    let Some(mut browser) = Browser::start("sign-in").await else {
        return;
    };
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let alice = app.create_member(&admin, "alice@baton.test").await;
    let bob = app.create_member(&admin, "bob@baton.test").await;
    let mine = expect_status(
        app.bearer(&alice.token)
            .post_json("/api/workflows", &workflow_body("alice's run", 1))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let theirs = expect_status(
        app.bearer(&bob.token)
            .post_json("/api/workflows", &workflow_body("bob's run", 1))
            .await,
        StatusCode::CREATED,
    )
    .await;

    browser.goto(&app.url("/")).await;
    browser.wait_for_text(".sign-in h1", "Sign in").await;
    browser.screenshot("form").await;
    browser.type_into("#email", &alice.email).await;
    browser.type_into("#password", "not the password").await;
    browser.click("#login").await;
    browser.wait_for_text("#sign-in-status", "401").await;

    browser.type_into("#password", MEMBER_PASSWORD).await;
    browser.click("#login").await;
    browser
        .wait_for_text(&row(id_of(&mine)), "alice's run")
        .await;
    let listed = browser
        .run(
            "return [...document.querySelectorAll('#runs tr')].map(r => r.dataset.id);",
            json!([]),
        )
        .await;
    assert_eq!(listed, json!([id_of(&mine)]), "only alice's runs");
    browser.screenshot("alice").await;
    // Another member's run is not found, in the page as in the API.
    browser
        .goto(&app.url(&format!("/#/runs/{}", id_of(&theirs))))
        .await;
    browser.wait_for_text("#run-head", "404").await;

    // Signed out, then in with an API key: bob's runs.
    browser.goto(&app.url("/")).await;
    browser
        .wait_for_text(&row(id_of(&mine)), "alice's run")
        .await;
    browser.click("#sign-out").await;
    browser.wait_for_text(".sign-in h1", "Sign in").await;
    let key = app.bearer(&bob.token).create_api_key("dashboard").await;
    browser
        .type_into("#token", key["key"].as_str().unwrap())
        .await;
    browser.click("#use-token").await;
    browser
        .wait_for_text(&row(id_of(&theirs)), "bob's run")
        .await;
    let listed = browser
        .run(
            "return [...document.querySelectorAll('#runs tr')].map(r => r.dataset.id);",
            json!([]),
        )
        .await;
    assert_eq!(listed, json!([id_of(&theirs)]), "only bob's runs");
    let kept = browser
        .run(
            "return sessionStorage.getItem('baton.credentials') !== null \
             && localStorage.length === 0;",
            json!([]),
        )
        .await;
    assert_eq!(kept, json!(true), "credentials are kept for the tab only");
    browser.screenshot("bob").await;
    browser.assert_clean_console(&[401, 404]).await;
}
