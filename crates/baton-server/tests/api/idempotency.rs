//! `Idempotency-Key` on POST: one effect per key, the same answer for every repeat.

use baton_server::protection::idempotency::fingerprint;
use baton_testkit::{Api, TestApp, expect_status};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{id_of, workflow_body};

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_identical_posts_create_one_workflow_and_answer_one_body() {
    let app = TestApp::spawn_authenticated_with(&[("BATON_WORKERS", "0")]).await;
    let admin = app.admin_token().await;
    let member = app.create_member(&admin, "m@baton.test").await;
    let session = app.bearer(&member.token);
    let body = workflow_body("once", 3);
    let responses = join_all((0..20).map(|_| {
        session
            .request(Method::POST, "/api/workflows")
            .header("Idempotency-Key", "create-once")
            .json(&body)
            .send()
    }))
    .await;

    let mut answers = Vec::new();
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned());
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        answers.push((replayed, location, etag, response.bytes().await.unwrap()));
    }
    assert_eq!(
        app.count("workflows").await,
        1,
        "one workflow for twenty requests"
    );
    let (_, location, etag, body) = &answers[0];
    for (_, l, e, b) in &answers {
        assert_eq!(
            (l, e, b),
            (location, etag, body),
            "every answer is the same"
        );
    }
    let originals = answers.iter().filter(|a| a.0.is_none()).count();
    let replays = answers
        .iter()
        .filter(|a| a.0.as_deref() == Some("true"))
        .count();
    assert_eq!((originals, replays), (1, 19));

    // Later, the same request is still answered from the record.
    let again = session
        .request(Method::POST, "/api/workflows")
        .header("Idempotency-Key", "create-once")
        .json(&workflow_body("once", 3))
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(&again.bytes().await.unwrap(), body);
    assert_eq!(app.count("workflows").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_different_request_under_the_same_key_is_refused_with_422() {
    let app = TestApp::spawn_with(&[("BATON_WORKERS", "0")]).await;
    let post = |path: &str, body: serde_json::Value| {
        app.request(Method::POST, path)
            .header("Idempotency-Key", "k-1")
            .json(&body)
            .send()
    };
    let first = post("/api/workflows", workflow_body("first", 1))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let before = app.snapshot().await;
    for (path, body) in [
        ("/api/workflows", workflow_body("changed", 1)),
        ("/api/workflows", workflow_body("first", 2)),
        (
            "/api/tasks",
            json!({"workflow_id": uuid::Uuid::nil(), "type": "transform", "input": {"jq": "."}}),
        ),
    ] {
        let error = expect_status(
            post(path, body).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error["code"], "VALIDATION_ERROR");
        assert!(
            error["error"].as_str().unwrap().contains("Idempotency-Key"),
            "{error}"
        );
    }
    assert_eq!(app.snapshot().await, before, "nothing created");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_scoped_per_principal() {
    let app = TestApp::spawn_authenticated_with(&[("BATON_WORKERS", "0")]).await;
    let admin = app.admin_token().await;
    let a = app.create_member(&admin, "a@baton.test").await;
    let b = app.create_member(&admin, "b@baton.test").await;
    let mut created = Vec::new();
    for member in [&a, &b] {
        let response = app
            .bearer(&member.token)
            .request(Method::POST, "/api/workflows")
            .header("Idempotency-Key", "same-key")
            .json(&workflow_body("mine", 1))
            .send()
            .await
            .unwrap();
        assert!(response.headers().get("idempotent-replayed").is_none());
        let workflow = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(workflow["owner_id"], member.id.as_str());
        created.push(id_of(&workflow).to_owned());
    }
    assert_ne!(created[0], created[1]);
    assert_eq!(app.count("workflows").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_still_in_flight_answers_409_once_the_wait_is_over() {
    let app =
        TestApp::spawn_with(&[("BATON_WORKERS", "0"), ("BATON_IDEMPOTENCY_WAIT_MS", "0")]).await;
    let body = serde_json::to_vec(&workflow_body("slow", 1)).unwrap();
    // The local admin's request is "running" under the key.
    let print = fingerprint("POST", "/api/workflows", &body);
    app.hold_idempotency_key(uuid::Uuid::nil(), "busy", &print)
        .await;
    let response = app
        .request(Method::POST, "/api/workflows")
        .header("Idempotency-Key", "busy")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let error = expect_status(response, StatusCode::CONFLICT).await;
    assert_eq!(error["code"], "CONFLICT");
    assert!(
        error["error"].as_str().unwrap().contains("in progress"),
        "{error}"
    );
    assert_eq!(app.count("workflows").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_free_the_key_and_keys_expire_after_24_hours() {
    let app = TestApp::spawn_with(&[("BATON_WORKERS", "0")]).await;
    let post = |body: serde_json::Value| {
        app.request(Method::POST, "/api/workflows")
            .header("Idempotency-Key", "retry-me")
            .json(&body)
            .send()
    };
    // A refused request leaves nothing behind: the fixed request runs under the same key.
    let refused = post(json!({"name": ""})).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("idempotency_keys").await, 0);
    let first = post(workflow_body("fixed", 1)).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let replay = post(workflow_body("fixed", 1)).await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(app.count("workflows").await, 1);

    // A day later the key is forgotten: the same request runs again.
    app.age_idempotency_keys(25).await;
    let later = post(workflow_body("fixed", 1)).await.unwrap();
    assert_eq!(later.status(), StatusCode::CREATED);
    assert!(later.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.count("workflows").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_replay_their_answer_instead_of_conflicting() {
    let app = TestApp::spawn_with(&[("BATON_WORKERS", "0")]).await;
    let workflow = app.create_workflow(&workflow_body("w", 1)).await;
    let path = format!("/api/workflows/{}/start", id_of(&workflow));
    let start = || {
        app.request(Method::POST, &path)
            .header("Idempotency-Key", "start-it")
            .send()
    };
    let first = start().await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first = first.bytes().await.unwrap();
    let second = start().await.unwrap();
    assert_eq!(second.status(), StatusCode::ACCEPTED, "not 409: a replay");
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.bytes().await.unwrap(), first);
    // Without the key, starting twice is a conflict.
    let third = app.post_json(&path, &json!({})).await;
    assert_eq!(third.status(), StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_api_key_creation_never_shows_the_key_again() {
    let app = TestApp::spawn_authenticated_with(&[("BATON_WORKERS", "0")]).await;
    let admin = app.admin_token().await;
    let create = || {
        app.bearer(&admin)
            .request(Method::POST, "/api/api-keys")
            .header("Idempotency-Key", "new-key")
            .json(&json!({"name": "deploy"}))
            .send()
    };
    let first = expect_status(create().await.unwrap(), StatusCode::CREATED).await;
    assert!(first["key"].is_string());
    let replay = create().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay = expect_status(replay, StatusCode::CREATED).await;
    assert_eq!(replay["id"], first["id"]);
    assert!(replay.get("key").is_none(), "{replay}");
    assert_eq!(app.count("api_keys").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_keys_are_refused() {
    let app = TestApp::spawn_with(&[("BATON_WORKERS", "0")]).await;
    let response = app
        .request(Method::POST, "/api/workflows")
        .header("Idempotency-Key", "k".repeat(256))
        .json(&workflow_body("w", 1))
        .send()
        .await
        .unwrap();
    let error = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "VALIDATION_ERROR");
    assert!(
        error["error"].as_str().unwrap().contains("Idempotency-Key"),
        "{error}"
    );
    assert_eq!(app.count("workflows").await, 0);
}
