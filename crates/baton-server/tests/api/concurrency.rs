use baton_testkit::{Api, TestApp, expect_status};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{id_of, workflow_body};

#[tokio::test(flavor = "multi_thread")]
async fn same_if_match_one_wins_the_other_gets_412() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&workflow_body("w", 1)).await;
    let path = format!("/api/tasks/{}", id_of(&wf["tasks"][0]));
    let send = |title: &'static str| {
        app.request(Method::PATCH, &path)
            .header("If-Match", "\"1\"")
            .json(&json!({"title": title}))
            .send()
    };
    let (a, b) = tokio::join!(send("a"), send("b"));
    let mut statuses = [a.unwrap().status(), b.unwrap().status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let task = expect_status(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(task["version"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_read_modify_writes_lose_no_update() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&workflow_body("counter", 1)).await;
    let path = format!("/api/tasks/{}", id_of(&wf["tasks"][0]));
    app.patch_json(&path, &json!({"title": "0"})).await;

    let increment = || async {
        let mut conflicts = 0;
        loop {
            let task = expect_status(app.get(&path).await, StatusCode::OK).await;
            let n: u64 = task["title"].as_str().unwrap().parse().unwrap();
            let response = app
                .patch_json(
                    &path,
                    &json!({"title": (n + 1).to_string(), "version": task["version"]}),
                )
                .await;
            match response.status() {
                StatusCode::OK => return conflicts,
                StatusCode::CONFLICT => conflicts += 1,
                other => panic!("unexpected {other}"),
            }
            assert!(conflicts < 1_000, "no progress");
        }
    };
    let conflicts: u32 = join_all((0..50).map(|_| increment()))
        .await
        .into_iter()
        .sum();
    let task = expect_status(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(task["title"], "50", "every increment landed");
    assert_eq!(task["version"], 52);
    assert!(conflicts > 0, "the clients really raced");
}
