//! `baton run`: submitted from YAML or JSON, followed to the end, the exit code its outcome's.

use baton_testkit::{Api, TestApp, wait_until};
use serde_json::json;

use super::{baton, finish, path_str, spawn, workflow_file};
use crate::runs::{DONE, WAIT};

const GREETING: &str = r#"
name: greet
input: {who: nobody}
tasks:
  - key: who
    type: transform
    input: {jq: .input.who}
  - key: hello
    type: transform
    input: {jq: '"Hello, " + .prev'}
  - key: shout
    type: transform
    input: {jq: '{greeting: (.prev + "!")}'}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_followed_run_shows_each_task_prints_the_output_and_exits_0() {
    let app = TestApp::spawn().await;
    let (_dir, file) = workflow_file("greet.yaml", GREETING);
    let out = baton(
        &app.address,
        &[
            "run",
            path_str(&file),
            "--input",
            r#"{"who": "Ada"}"#,
            "--follow",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json(), json!({"greeting": "Hello, Ada!"}), "{out:#?}");
    for key in [
        "#0 who (transform)",
        "#1 hello (transform)",
        "#2 shout (transform)",
    ] {
        assert!(
            out.stderr.contains(&format!("▶ {key} running (attempt 1)")),
            "{out:#?}"
        );
        assert_eq!(
            out.stderr
                .matches(&format!("✓ {key} completed in "))
                .count(),
            1,
            "one completion line for {key}: {out:#?}"
        );
    }
    assert!(out.stderr.contains("✓ workflow completed"), "{out:#?}");
    // The run is the API's: the same output there.
    let page = app
        .get("/api/workflows")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(
        page["data"][0]["output"],
        json!({"greeting": "Hello, Ada!"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_file_runs_the_same_and_json_output_is_the_finished_workflow() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "one", "input": {"n": 2},
                      "tasks": [{"type": "transform", "input": {"jq": ".input.n * 21"}}]});
    let (_dir, file) = workflow_file("one.json", &body.to_string());
    let out = baton(
        &app.address,
        &["run", path_str(&file), "--follow", "--json"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let workflow = out.json();
    assert_eq!(workflow["status"], "completed");
    assert_eq!(workflow["output"], 42);
    assert_eq!(workflow["tasks"][0]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_exits_3_with_its_error() {
    let app = TestApp::spawn().await;
    let (_dir, file) = workflow_file(
        "bad.yaml",
        "name: bad\ntasks:\n  - key: boom\n    type: transform\n    input: {jq: 'error(\"no way\")'}\n",
    );
    let out = baton(&app.address, &["run", path_str(&file), "--follow"]).await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert_eq!(out.stdout, "", "nothing on stdout for a failed run");
    assert!(
        out.stderr.contains("✗ #0 boom (transform) failed"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("no way"), "{out:#?}");
    assert!(out.stderr.contains("error: workflow "), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_run_exits_4() {
    let app = TestApp::spawn().await;
    let (_dir, file) = workflow_file(
        "nap.yaml",
        "name: nap\ntasks:\n  - key: nap\n    type: sleep\n    input: {for_ms: 3600000}\n",
    );
    let child = spawn(&app.address, None, &["run", path_str(&file), "--follow"]);
    wait_until("the run is asleep", WAIT, || async {
        let page: serde_json::Value = app.get("/api/workflows").await.json().await.unwrap();
        !page["data"][0]["tasks"][0]["waiting_since"].is_null()
    })
    .await;
    let page: serde_json::Value = app.get("/api/workflows").await.json().await.unwrap();
    let id = page["data"][0]["id"].as_str().unwrap().to_owned();
    let cancelled = app
        .post_json(&format!("/api/workflows/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status(), 202);
    let out = finish(child).await;
    assert_eq!(out.code, 4, "{out:#?}");
    assert!(out.stderr.contains("was cancelled"), "{out:#?}");
    app.wait_for_workflow(&id, DONE, WAIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_follow_the_run_prints_its_id_and_exits_0() {
    let app = TestApp::spawn().await;
    let (_dir, file) = workflow_file("greet.yaml", GREETING);
    let out = baton(&app.address, &["run", path_str(&file)]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let id = out.stdout.trim();
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["output"], json!({"greeting": "Hello, nobody!"}));
    assert!(
        out.stderr.contains(&format!("baton events {id}")),
        "{out:#?}"
    );
}
