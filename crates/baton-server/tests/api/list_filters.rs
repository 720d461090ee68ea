//! Filters of the workflow list: by name.

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::StatusCode;

use crate::helpers::{id_of, workflow_body};

#[tokio::test(flavor = "multi_thread")]
async fn workflows_are_listed_by_name_ignoring_case() {
    let app = TestApp::spawn_with(&[("BATON_WORKERS", "0")]).await;
    let report = app
        .create_workflow(&workflow_body("Weekly Report", 1))
        .await;
    app.create_workflow(&workflow_body("digest", 1)).await;
    let names = async |query: &str| {
        let page = expect_status(
            app.get(&format!("/api/workflows?{query}")).await,
            StatusCode::OK,
        )
        .await;
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("name=rEpOrT").await, [id_of(&report)]);
    assert_eq!(
        names("name=%25").await,
        Vec::<String>::new(),
        "`%` is literal"
    );
    assert_eq!(names("name=").await.len(), 2, "empty: no filter");
    assert_eq!(names("name=report&status=running").await.len(), 0);
    let before = app.snapshot().await;
    let long = "x".repeat(201);
    let error = expect_status(
        app.get(&format!("/api/workflows?name={long}")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], "VALIDATION_ERROR");
    assert!(error["error"].as_str().unwrap().contains("200"), "{error}");
    assert_eq!(app.snapshot().await, before);
}
