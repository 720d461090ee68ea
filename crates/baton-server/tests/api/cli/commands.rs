//! `baton workflows`, `events`, `documents`: text by default, the API's JSON with `--json`, API
//! errors with their code and message and a non-zero exit.

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{baton, finish, path_str, spawn, workflow_file};
use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};

async fn completed_run(app: &TestApp) -> String {
    let created = app
        .create_workflow(&json!({
            "name": "saved", "start": true,
            "tasks": [
                {"key": "save", "type": "store", "input": {"collection": "notes", "document": {"text": "hi"}}},
                {"type": "transform", "input": {"jq": "{saved: .prev.document_id}"}}
            ]
        }))
        .await;
    let id = id_of(&created).to_owned();
    app.wait_for_workflow(&id, DONE, WAIT).await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn workflows_get_and_list_print_text_or_the_api_json() {
    let app = TestApp::spawn().await;
    let id = completed_run(&app).await;
    let api: Value = app
        .get(&format!("/api/workflows/{id}"))
        .await
        .json()
        .await
        .unwrap();

    let out = baton(&app.address, &["workflows", "get", &id, "--json"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json(), api, "--json prints the API's workflow");

    let out = baton(&app.address, &["workflows", "get", &id]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.starts_with(&format!("{id}  completed  saved\n")),
        "{out:#?}"
    );
    assert!(
        out.stdout
            .contains("#0 save (store)  completed (attempt 1) in "),
        "{out:#?}"
    );

    let out = baton(
        &app.address,
        &["workflows", "list", "--status", "completed", "--json"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["data"][0]["id"], id.as_str());
    let out = baton(
        &app.address,
        &["workflows", "list", "--status", "failed", "--json"],
    )
    .await;
    assert_eq!(out.json()["data"], json!([]), "the filter is the API's");

    let out = baton(&app.address, &["workflows", "list"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out:#?}");
    assert!(
        lines[1].starts_with(&format!("{id}  completed")),
        "{out:#?}"
    );
    assert!(lines[1].ends_with("saved"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_are_shown_with_their_code_and_message_and_exit_1() {
    let app = TestApp::spawn().await;
    let id = completed_run(&app).await;
    let before = app.snapshot().await;

    let out = baton(&app.address, &["workflows", "cancel", &id]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("error: CONFLICT: the workflow is completed"),
        "{out:#?}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");

    let out = baton(&app.address, &["workflows", "retry", &id]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.starts_with("error: CONFLICT: "), "{out:#?}");

    let missing = uuid::Uuid::new_v4().to_string();
    let out = baton(&app.address, &["workflows", "get", &missing]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.starts_with("error: NOT_FOUND: "), "{out:#?}");

    let out = baton(&app.address, &["workflows", "get", "not-an-id"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.starts_with("error: VALIDATION_ERROR: "),
        "{out:#?}"
    );

    let (_dir, file) = workflow_file(
        "broken.yaml",
        "name: broken\ntasks:\n  - type: fetch\n    input: {}\n",
    );
    let out = baton(&app.address, &["run", path_str(&file), "--follow"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.starts_with("error: VALIDATION_ERROR: "),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("\n  tasks[0].input.url: "),
        "each field named: {out:#?}"
    );

    assert_eq!(
        app.snapshot().await,
        before,
        "refused commands changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_and_unreachable_servers_are_clear_errors() {
    let app = TestApp::spawn().await;
    let (_dir, file) = workflow_file("list.yaml", "- just\n- a list\n");
    let out = baton(&app.address, &["run", path_str(&file)]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("must hold an object"), "{out:#?}");

    let out = baton(&app.address, &["run", "/nonexistent/flow.yaml"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr
            .starts_with("error: cannot read /nonexistent/flow.yaml"),
        "{out:#?}"
    );

    let (_dir2, good) = workflow_file("x.yaml", "name: x\ntasks: []\n");
    let out = baton(&app.address, &["run", path_str(&good), "--input", "{oops"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("--input is not JSON"), "{out:#?}");

    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = baton(&format!("http://127.0.0.1:{port}"), &["workflows", "list"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.starts_with(&format!(
            "error: cannot reach Baton at http://127.0.0.1:{port}"
        )),
        "{out:#?}"
    );

    let out = baton(&app.address, &["workflows", "frobnicate"]).await;
    assert_eq!(out.code, 2, "usage errors are clap's: {out:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_prints_the_history_to_the_end_and_documents_lists_what_was_stored() {
    let app = TestApp::spawn().await;
    let id = completed_run(&app).await;

    let out = baton(&app.address, &["events", &id]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let types: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"workflow.started"), "{out:#?}");
    assert_eq!(types.last(), Some(&"workflow.completed"), "{out:#?}");
    assert_eq!(types.iter().filter(|t| **t == "task.completed").count(), 2);

    let out = baton(&app.address, &["events", &id, "--json"]).await;
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stored = app.events(&id).await;
    assert_eq!(lines.len(), stored.len(), "every event once: {out:#?}");
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "workflow.completed");
    // Resuming after an event prints only what followed it.
    let after = lines[lines.len() - 2]["id"].to_string();
    let out = baton(&app.address, &["events", &id, "--after", &after]).await;
    assert_eq!(out.stdout.lines().count(), 1, "{out:#?}");

    let out = baton(
        &app.address,
        &["documents", "--collection", "notes", "--json"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let page = out.json();
    assert_eq!(page["data"][0]["data"], json!({"text": "hi"}));
    assert_eq!(page["data"][0]["workflow_id"], id.as_str());
    let out = baton(
        &app.address,
        &["documents", "--collection", "other", "--json"],
    )
    .await;
    assert_eq!(out.json()["data"], json!([]));
    let out = baton(&app.address, &["documents"]).await;
    assert!(
        out.stdout.lines().nth(1).unwrap().contains(r#"notes"#),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_authentication_the_token_comes_from_baton_token() {
    let app = TestApp::spawn_authenticated().await;
    let out = baton(&app.address, &["workflows", "list"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.starts_with("error: UNAUTHORIZED: "), "{out:#?}");

    let token = app.admin_token().await;
    let key = app.bearer(&token).create_api_key("cli").await;
    let key = key["key"].as_str().unwrap();
    let created = expect_status(
        app.api_key(key)
            .post_json(
                "/api/workflows",
                &json!({"name": "mine", "tasks": [{"type": "transform", "input": {"jq": "1"}}]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let out = finish(spawn(
        &app.address,
        Some(key),
        &["workflows", "list", "--json"],
    ))
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["data"][0]["id"], created["id"]);

    let out = finish(spawn(
        &app.address,
        Some(&token),
        &["workflows", "get", id_of(&created)],
    ))
    .await;
    assert_eq!(out.code, 0, "an access token works too: {out:#?}");
}
