//! Secrets: stored sealed, shown by name only, sent where a template puts them, and hidden
//! everywhere else (answers, events, stored inputs and outputs, errors, documents, logs).

use std::time::Duration;

use baton_testkit::{
    Api, Backend, BatonProcess, FakeLlm, SECRETS_KEY, Script, TestApp, TestDatabase, expect_status,
    sse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{header, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};
use crate::streaming::llm_app;

const BATON: &str = env!("CARGO_BIN_EXE_baton");
const VALUE: &str = "sk-live-7f3a9c2e5b";

async fn create_secret(app: &impl Api, name: &str, value: &str) -> Value {
    expect_status(
        app.post_json("/api/secrets", &json!({"name": name, "value": value}))
            .await,
        StatusCode::CREATED,
    )
    .await
}

fn fetch_with_key(url: &str) -> Value {
    json!({
        "name": "keyed",
        "start": true,
        "tasks": [{
            "key": "call", "type": "fetch",
            "input": {"url": url, "headers": {"Authorization": "Bearer {{ secrets.API_KEY }}"}},
            "retry": {"max_attempts": 1}
        }]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_created_listed_replaced_and_deleted_by_name_never_shown() {
    let app = TestApp::spawn().await;
    let created = create_secret(&app, "API_KEY", VALUE).await;
    assert_eq!(created["name"], "API_KEY");
    assert!(created.get("value").is_none() && !created.to_string().contains(VALUE));

    let again = app
        .post_json(
            "/api/secrets",
            &json!({"name": "API_KEY", "value": "other-value"}),
        )
        .await;
    let body = expect_status(again, StatusCode::CONFLICT).await;
    assert!(
        body["error"].as_str().unwrap().contains("API_KEY"),
        "{body}"
    );

    let one = expect_status(app.get("/api/secrets/API_KEY").await, StatusCode::OK).await;
    assert_eq!(one["id"], created["id"]);
    let list = expect_status(app.get("/api/secrets").await, StatusCode::OK).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(VALUE));

    let replaced = app
        .put_json("/api/secrets/API_KEY", &json!({"value": "sk-rotated-1"}))
        .await;
    let replaced = expect_status(replaced, StatusCode::OK).await;
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["created_at"], created["created_at"]);
    let new = app
        .put_json("/api/secrets/OTHER", &json!({"value": "sk-other-1"}))
        .await;
    assert_eq!(new.headers()["location"], "/api/secrets/OTHER");
    expect_status(new, StatusCode::CREATED).await;

    expect_status(
        app.delete("/api/secrets/OTHER").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(app.get("/api/secrets/OTHER").await, StatusCode::NOT_FOUND).await;
    expect_status(
        app.delete("/api/secrets/OTHER").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(app.count("secrets").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_secrets_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (json!({"name": "has-dash", "value": VALUE}), "name"),
        (json!({"name": "9LIVES", "value": VALUE}), "name"),
        (json!({"name": "OK", "value": "abc"}), "value"),
        (
            json!({"name": "OK", "value": "x".repeat(16 * 1024 + 1)}),
            "value",
        ),
    ] {
        let response = app.post_json("/api/secrets", &body).await;
        let error = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["code"], "VALIDATION_ERROR");
        assert_eq!(error["details"]["fields"][0]["field"], field, "{error}");
    }
    let unknown = app
        .post_json(
            "/api/secrets",
            &json!({"name": "OK", "value": VALUE, "extra": 1}),
        )
        .await;
    expect_status(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    let bad_put = app
        .put_json("/api/secrets/a.b", &json!({"value": VALUE}))
        .await;
    expect_status(bad_put, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.count("secrets").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_naming_a_missing_secret_is_refused_with_where_and_which() {
    let app = TestApp::spawn().await;
    create_secret(&app, "API_KEY", VALUE).await;
    let mut body = fetch_with_key("http://127.0.0.1:9/x");
    body["tasks"][0]["input"]["headers"]["X-Extra"] = json!("{{ secrets.API_KYE }}");
    let before = app.snapshot().await;
    let response = app.post_json("/api/workflows", &body).await;
    let error = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields = error["details"]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "{error}");
    assert_eq!(fields[0]["field"], "tasks[0].input.headers.X-Extra");
    assert_eq!(fields[0]["expression"], "secrets.API_KYE");
    assert!(
        fields[0]["message"]
            .as_str()
            .unwrap()
            .contains("no secret named `API_KYE`"),
        "{error}"
    );
    assert_eq!(app.snapshot().await, before);
    // The same check on a task added later.
    let draft = app.create_workflow(&json!({"name": "draft"})).await;
    let task = json!({"workflow_id": id_of(&draft), "type": "fetch",
                      "input": {"url": "{{ secrets.NOPE }}"}});
    let error = expect_status(
        app.post_json("/api/tasks", &task).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error["details"]["fields"][0]["field"], "input.url",
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_deleted_after_creation_fails_the_task_naming_it() {
    let target = MockServer::start().await;
    let app = TestApp::spawn().await;
    create_secret(&app, "API_KEY", VALUE).await;
    let mut body = fetch_with_key(&format!("{}/x", target.uri()));
    body["start"] = json!(false);
    let wf = app.create_workflow(&body).await;
    expect_status(
        app.delete("/api/secrets/API_KEY").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let id = id_of(&wf);
    let start = app
        .post_json(&format!("/api/workflows/{id}/start"), &json!({}))
        .await;
    expect_status(start, StatusCode::ACCEPTED).await;
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = &done["tasks"][0]["error"];
    assert_eq!(error["kind"], "secret", "{done}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no secret named `API_KEY`"),
        "{done}"
    );
    assert!(target.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_belong_to_their_owner() {
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let alice = app.create_member(&admin, "alice@example.com").await;
    let bob = app.create_member(&admin, "bob@example.com").await;
    create_secret(&app.bearer(&alice.token), "API_KEY", VALUE).await;
    let bob = app.bearer(&bob.token);
    expect_status(bob.get("/api/secrets/API_KEY").await, StatusCode::NOT_FOUND).await;
    let list = expect_status(bob.get("/api/secrets").await, StatusCode::OK).await;
    assert_eq!(list["data"], json!([]));
    // Bob's workflow cannot read Alice's secret; Bob may have one of the same name.
    let refused = bob
        .post_json("/api/workflows", &fetch_with_key("http://127.0.0.1:9/x"))
        .await;
    expect_status(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    create_secret(&bob, "API_KEY", "bobs-own-value").await;
    expect_status(
        app.bearer(&admin).get("/api/secrets/API_KEY").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_sqlite_keeps_one_next_to_its_database_and_postgres_has_secrets_off() {
    let app = TestApp::spawn_with(&[("BATON_SECRETS_KEY", "")]).await;
    let response = app
        .post_json("/api/secrets", &json!({"name": "API_KEY", "value": VALUE}))
        .await;
    match Backend::from_env() {
        Backend::Sqlite => {
            expect_status(response, StatusCode::CREATED).await;
        }
        Backend::Postgres => {
            let error = expect_status(response, StatusCode::CONFLICT).await;
            assert!(
                error["error"]
                    .as_str()
                    .unwrap()
                    .contains("BATON_SECRETS_KEY"),
                "{error}"
            );
            let refused = app
                .post_json("/api/workflows", &fetch_with_key("http://127.0.0.1:9/x"))
                .await;
            let error = expect_status(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert!(error.to_string().contains("BATON_SECRETS_KEY"), "{error}");
        }
    }
}

/// Everything a client or an operator can read of a finished workflow, as text.
async fn everything_shown(process: &BatonProcess, id: &str) -> String {
    let workflow = process.get(&format!("/api/workflows/{id}")).await;
    let workflow = expect_status(workflow, StatusCode::OK).await;
    let tasks = process.get(&format!("/api/tasks?workflow_id={id}")).await;
    let tasks = expect_status(tasks, StatusCode::OK).await;
    let events = process
        .request(reqwest::Method::GET, &format!("/api/workflows/{id}/events"))
        .send()
        .await
        .unwrap();
    let events: Vec<String> = sse::collect(events, WAIT)
        .await
        .into_iter()
        .map(|e| e.raw)
        .collect();
    format!("{workflow}\n{tasks}\n{}", events.join("\n"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_reaches_its_target_and_is_hidden_everywhere_else() {
    let target = MockServer::start().await;
    Mock::given(path("/ok"))
        .and(header("authorization", format!("Bearer {VALUE}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"you_sent": format!("Bearer {VALUE}")})),
        )
        .mount(&target)
        .await;
    Mock::given(path("/denied"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad key {VALUE}")))
        .mount(&target)
        .await;
    let db = TestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("baton.log");
    let vars = [("BATON_SECRETS_KEY", SECRETS_KEY), ("BATON_POLL_MS", "100")];
    let process = BatonProcess::start_logged(BATON, &db.url, &vars, &log).await;
    create_secret(&process, "API_KEY", VALUE).await;

    let mut ok = fetch_with_key(&format!("{}/ok", target.uri()));
    ok["tasks"].as_array_mut().unwrap().push(
        json!({"type": "store", "input": {"collection": "echo", "document": "{{ prev.body }}"}}),
    );
    let ok = process.create_workflow(&ok).await;
    let denied = process
        .create_workflow(&fetch_with_key(&format!("{}/denied", target.uri())))
        .await;
    let ok_done = process.wait_for_workflow(id_of(&ok), DONE, WAIT).await;
    let denied_done = process.wait_for_workflow(id_of(&denied), DONE, WAIT).await;
    assert_eq!(ok_done["status"], "completed", "{ok_done}");
    assert_eq!(denied_done["status"], "failed", "{denied_done}");

    // The target got the value, where the template put it.
    let sent = target.received_requests().await.unwrap();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|r| r.headers["authorization"] == format!("Bearer {VALUE}"))
    );

    // What Baton shows and keeps has the mask instead.
    let call = &ok_done["tasks"][0];
    assert_eq!(
        call["resolved_input"]["headers"]["Authorization"],
        "Bearer [secret]"
    );
    assert_eq!(call["output"]["body"]["you_sent"], "Bearer [secret]");
    let message = denied_done["tasks"][0]["error"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("HTTP 401") && message.contains("bad key [secret]"),
        "{message}"
    );
    let documents = expect_status(process.get("/api/documents").await, StatusCode::OK).await;
    assert_eq!(documents["data"][0]["data"]["you_sent"], "Bearer [secret]");

    let mut shown = everything_shown(&process, id_of(&ok)).await;
    shown += &everything_shown(&process, id_of(&denied)).await;
    shown += &documents.to_string();
    shown += &expect_status(process.get("/api/secrets").await, StatusCode::OK)
        .await
        .to_string();
    assert!(shown.contains("[secret]"));
    assert!(
        !shown.contains(VALUE),
        "a secret shows in an answer: {shown}"
    );
    let stored = db.dump().await;
    assert!(stored.contains("Bearer [secret]"), "{stored}");
    assert!(
        !stored.contains(VALUE),
        "a secret is stored in the clear: {stored}"
    );
    drop(process);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("task failed"),
        "the log was captured: {logged}"
    );
    assert!(!logged.contains(VALUE), "a secret was logged: {logged}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_repeating_a_secret_streams_the_mask_even_across_chunks() {
    let fake = FakeLlm::start().await;
    fake.script([Script::Reply {
        tokens: vec![
            "The key is sk-li".into(),
            "ve-7f3a".into(),
            "9c2e5b, ok".into(),
        ],
        delay: Duration::from_millis(150),
    }]);
    let app = llm_app(&fake, &[]).await;
    create_secret(&app, "API_KEY", VALUE).await;
    let wf = app
        .create_workflow(&json!({
            "name": "leaky",
            "start": true,
            "tasks": [{"type": "llm", "input": {"prompt": "Repeat {{ secrets.API_KEY }}"}}]
        }))
        .await;
    let id = id_of(&wf);
    let events = app
        .request(reqwest::Method::GET, &format!("/api/workflows/{id}/events"))
        .send()
        .await
        .unwrap();
    let events = sse::collect(events, WAIT).await;
    let streamed: String = events
        .iter()
        .filter(|e| e.event == "task.delta")
        .map(|e| e.data["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(streamed, "The key is [secret], ok");
    let raw: String = events.iter().map(|e| e.raw.clone()).collect();
    assert!(!raw.contains(VALUE) && !raw.contains("7f3a"), "{raw}");
    let prompt = fake.requests()[0].to_string();
    assert!(prompt.contains(VALUE), "the model got the value: {prompt}");
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(
        done["tasks"][0]["output"]["text"],
        "The key is [secret], ok"
    );
}
