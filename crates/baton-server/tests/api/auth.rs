//! Logging in, users, API keys and local mode.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::time::Duration;

use baton_testkit::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Api, Backend, BatonProcess, JWT_SECRET, TestApp, TestDatabase,
    expect_status,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{error_fields, id_of, workflow_body};

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_issues_an_hs256_token_with_sub_role_iat_and_exp() {
    let app = TestApp::spawn_authenticated().await;
    let response = app.login_response(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = expect_status(response, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(decode_part(token, 0)["alg"], "HS256");
    let claims = decode_part(token, 1);
    assert_eq!(claims["role"], "admin");
    assert!(
        claims["sub"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .is_ok()
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);

    // The email is case-insensitive; the token works.
    let token = app.login("  Admin@Baton.TEST ", ADMIN_PASSWORD).await;
    let users = expect_status(
        app.bearer(&token).get("/api/admin/users").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(users["data"][0]["email"], ADMIN_EMAIL);
    assert_eq!(users["data"][0]["role"], "admin");
    assert!(users["data"][0].get("password_hash").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_answer_the_same_for_an_unknown_email_and_a_wrong_password() {
    let app = TestApp::spawn_authenticated().await;
    let mut answers = Vec::new();
    for (email, password) in [
        (ADMIN_EMAIL, "not the password"),
        ("nobody@baton.test", ADMIN_PASSWORD),
        ("not an email", ADMIN_PASSWORD),
    ] {
        let response = app.login_response(email, password).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHORIZED", "{body}");
        answers.push((status, body));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    let missing = app
        .post_json("/api/auth/login", &json!({"email": ADMIN_EMAIL}))
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_create_and_list_users_with_validation_and_unique_emails() {
    let app = TestApp::spawn_authenticated().await;
    let token = app.admin_token().await;
    let as_admin = app.bearer(&token);

    let created = expect_status(
        as_admin
            .post_json(
                "/api/admin/users",
                &json!({"email": "New@Baton.test", "password": "long enough"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["email"], "new@baton.test");
    assert_eq!(created["role"], "member", "member by default");
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let taken = expect_status(
        as_admin
            .post_json(
                "/api/admin/users",
                &json!({"email": "new@baton.test", "password": "long enough"}),
            )
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(taken["code"], "CONFLICT");

    let invalid = expect_status(
        as_admin
            .post_json(
                "/api/admin/users",
                &json!({"email": "nope", "password": "short", "role": "root"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = error_fields(&invalid);
    assert_eq!(fields, ["email", "password", "role"]);

    let second_admin = app.create_user(&token, "boss@baton.test", "admin").await;
    let list = expect_status(
        app.bearer(&second_admin.token)
            .get("/api/admin/users?limit=2")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let next = list["next_cursor"].as_str().unwrap();
    let rest = expect_status(
        app.bearer(&second_admin.token)
            .get(&format!("/api/admin/users?limit=2&cursor={next}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["email"], ADMIN_EMAIL, "newest first");
    assert_eq!(app.count("users").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_are_shown_once_stored_hashed_and_work_as_bearer_or_x_api_key() {
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let member = app.create_member(&admin, "m@baton.test").await;
    let created = app.bearer(&member.token).create_api_key("ci").await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("baton_") && key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["owner_id"], member.id.as_str());

    let listed = expect_status(
        app.bearer(&member.token).get("/api/api-keys").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(listed["data"][0].get("key").is_none(), "never shown again");
    assert!(
        !app.snapshot_api_keys().await.contains(&key),
        "not stored in clear"
    );

    // The key acts as its owner, either way it is sent.
    let mine = app
        .bearer(&member.token)
        .create_workflow(&workflow_body("mine", 1))
        .await;
    for session in [app.bearer(&key), app.api_key(&key)] {
        let seen = session
            .get(&format!("/api/workflows/{}", id_of(&mine)))
            .await;
        assert_eq!(seen.status(), StatusCode::OK);
        let created = session.create_workflow(&workflow_body("via key", 1)).await;
        assert_eq!(created["owner_id"], member.id.as_str());
        let forbidden = session.get("/api/admin/users").await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN, "a member's key");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_fails_on_its_next_call() {
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let member = app.create_member(&admin, "m@baton.test").await;
    let other = app.create_member(&admin, "o@baton.test").await;
    let created = app.bearer(&member.token).create_api_key("laptop").await;
    let key = created["key"].as_str().unwrap();
    let path = format!("/api/api-keys/{}", id_of(&created));

    // Used (and so cached) before the revocation.
    for _ in 0..3 {
        assert_eq!(
            app.api_key(key).get("/api/workflows").await.status(),
            StatusCode::OK
        );
    }
    // Another member cannot revoke it, or even see it.
    assert_eq!(
        app.bearer(&other.token).delete(&path).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.bearer(key).get("/api/workflows").await.status(),
        StatusCode::OK
    );

    // The key can revoke itself; its very next call fails.
    assert_eq!(
        app.bearer(key).delete(&path).await.status(),
        StatusCode::NO_CONTENT
    );
    for session in [app.bearer(key), app.api_key(key)] {
        let response = session.get("/api/workflows").await;
        let error = expect_status(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(error["code"], "UNAUTHORIZED");
        assert!(
            error["error"].as_str().unwrap().contains("revoked"),
            "{error}"
        );
    }
    assert_eq!(
        app.bearer(&member.token).delete(&path).await.status(),
        StatusCode::NOT_FOUND
    );
    let listed = expect_status(
        app.bearer(&member.token).get("/api/api-keys").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn local_mode_acts_as_the_local_admin_without_credentials() {
    let app = TestApp::spawn().await;
    let created = app.create_workflow(&workflow_body("local", 1)).await;
    assert_eq!(created["owner_id"], uuid::Uuid::nil().to_string());
    let users = app.get("/api/admin/users").await;
    assert_eq!(
        users.status(),
        StatusCode::OK,
        "the local admin is an admin"
    );
    for (path, body) in [
        (
            "/api/auth/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        ),
        ("/api/api-keys", json!({"name": "k"})),
    ] {
        let error = expect_status(app.post_json(path, &body).await, StatusCode::CONFLICT).await;
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("BATON_JWT_SECRET"),
            "{path}: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_revoked_on_one_instance_stops_working_on_the_others() {
    if !Backend::from_env().spans_instances() {
        eprintln!("skipped on this store: instances do not share notifications");
        return;
    }
    let db = TestDatabase::new();
    let vars = [
        ("BATON_WORKERS", "0"),
        ("BATON_JWT_SECRET", JWT_SECRET),
        ("BATON_ADMIN_EMAIL", ADMIN_EMAIL),
        ("BATON_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    let binary = env!("CARGO_BIN_EXE_baton");
    let one = BatonProcess::start(binary, &db.url, &vars).await;
    let two = BatonProcess::start(binary, &db.url, &vars).await;
    assert_eq!(TestApp::count_in(&db, "users").await, 1, "one first admin");

    let login: Value = one
        .client
        .post(one.url("/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let created: Value = one
        .client
        .post(one.url("/api/api-keys"))
        .bearer_auth(token)
        .json(&json!({"name": "shared"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap();
    let on_two = || {
        two.client
            .get(two.url("/api/workflows"))
            .header("X-API-Key", key)
            .send()
    };
    // Instance two has looked the key up (and cached it).
    assert_eq!(on_two().await.unwrap().status(), StatusCode::OK);
    assert_eq!(on_two().await.unwrap().status(), StatusCode::OK);

    let revoked = one
        .client
        .delete(one.url(&format!("/api/api-keys/{}", id_of(&created))))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    // The notification reaches instance two long before its cache entry would expire (60 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = on_two().await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            tokio::time::Instant::now() < deadline,
            "instance two still accepts the revoked key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
