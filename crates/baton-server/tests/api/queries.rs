use baton_testkit::{Api, TestApp, expect_status};
use reqwest::StatusCode;

use crate::helpers::workflow_body;

/// Statements the app sends to list (up to) 100 workflows with their tasks.
async fn statements_to_list(app: &TestApp, expected: usize) -> u64 {
    let before = app.statements();
    let page = expect_status(app.get("/api/workflows?limit=100").await, StatusCode::OK).await;
    let after = app.statements();
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), expected);
    assert!(
        data.iter()
            .all(|w| w["tasks"].as_array().unwrap().len() == 3)
    );
    after - before
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_10_or_200_workflows_costs_the_same_statements() {
    // No workers, and the admission sweep and the scheduler poll only at startup: only the
    // requests below send statements.
    let app = TestApp::spawn_with(&[
        ("BATON_WORKERS", "0"),
        ("BATON_ADMISSION_POLL_MS", "600000"),
        ("BATON_SCHEDULER_POLL_MS", "600000"),
    ])
    .await;
    for i in 0..10 {
        app.create_workflow(&workflow_body(&format!("w{i}"), 3))
            .await;
    }
    let ten = statements_to_list(&app, 10).await;
    for i in 10..200 {
        app.create_workflow(&workflow_body(&format!("w{i}"), 3))
            .await;
    }
    let hundred = statements_to_list(&app, 100).await;
    assert_eq!(
        ten, hundred,
        "no N+1: {ten} statements for 10, {hundred} for 100"
    );
    assert!(
        ten <= 3,
        "one for the page, one for all their tasks, one for their fan-outs' elements to \
         retry: {ten}"
    );

    // Following the cursor to the end costs the same per page.
    let page = expect_status(app.get("/api/workflows?limit=100").await, StatusCode::OK).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let before = app.statements();
    let last = expect_status(
        app.get(&format!("/api/workflows?limit=100&cursor={cursor}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.statements() - before, ten);
    assert_eq!(last["data"].as_array().unwrap().len(), 100);
    assert!(last["next_cursor"].is_null());

    // Filtered by status and name, the same: the filters are in the page's statement.
    let before = app.statements();
    let named = expect_status(
        app.get("/api/workflows?limit=100&status=pending&name=W1")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.statements() - before, ten);
    // w1, w10 to w19 and w100 to w199, case ignored.
    assert_eq!(named["data"].as_array().unwrap().len(), 100);
    assert!(named["next_cursor"].is_string(), "111 match");
}
