use baton_testkit::{Api, TestApp, expect_status};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};

#[tokio::test(flavor = "multi_thread")]
async fn documents_written_by_store_tasks_can_be_listed_and_read() {
    let app = TestApp::spawn().await;
    let mut workflows = Vec::new();
    for (i, collection) in ["notes", "notes", "reports"].iter().enumerate() {
        let wf = app
            .create_workflow(&json!({
                "name": format!("w{i}"),
                "input": {"n": i},
                "start": true,
                "tasks": [{"type": "store", "input": {"collection": collection, "document": {"n": "{{ input.n }}"}}}]
            }))
            .await;
        app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
        workflows.push(id_of(&wf).to_owned());
    }
    let notes = expect_status(
        app.get("/api/documents?collection=notes").await,
        StatusCode::OK,
    )
    .await;
    let data = notes["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(
        data[0]["data"],
        json!({"n": 1}),
        "newest first, templates kept the number"
    );
    assert_eq!(data[1]["data"], json!({"n": 0}));

    let first_page = expect_status(app.get("/api/documents?limit=2").await, StatusCode::OK).await;
    let cursor = first_page["next_cursor"].as_str().unwrap();
    let second_page = expect_status(
        app.get(&format!("/api/documents?limit=2&cursor={cursor}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second_page["data"].as_array().unwrap().len(), 1);
    assert!(second_page["next_cursor"].is_null());

    let id = data[0]["id"].as_str().unwrap();
    let one = expect_status(
        app.get(&format!("/api/documents/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["collection"], "notes");
    let missing = app
        .get("/api/documents/0193b2f4-0000-7000-8000-000000000000")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bad = app.get("/api/documents?cursor=nope").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let of_first = expect_status(
        app.get(&format!("/api/documents?workflow_id={}", workflows[0]))
            .await,
        StatusCode::OK,
    )
    .await;
    let data = of_first["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{of_first}");
    assert_eq!(data[0]["workflow_id"], workflows[0].as_str());
    let bad = app.get("/api/documents?workflow_id=nope").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
