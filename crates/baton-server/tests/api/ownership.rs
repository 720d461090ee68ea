//! Lists show a member only their own resources; administrators see everyone's.

use baton_testkit::{Api, Session, TestApp, expect_status};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{id_of, workflow_body};

fn ids(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| id_of(item).to_owned())
        .collect();
    ids.sort();
    ids
}

async fn get(session: &Session<'_>, path: &str) -> Value {
    expect_status(session.get(path).await, StatusCode::OK).await
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_show_members_their_own_and_admins_everything() {
    let app = TestApp::spawn_authenticated_with(&[("BATON_WORKERS", "0")]).await;
    let admin = app.admin_token().await;
    let a = app.create_member(&admin, "a@baton.test").await;
    let b = app.create_member(&admin, "b@baton.test").await;
    let (as_a, as_b, as_admin) = (
        app.bearer(&a.token),
        app.bearer(&b.token),
        app.bearer(&admin),
    );

    let wa = as_a.create_workflow(&workflow_body("a", 2)).await;
    let wb = as_b.create_workflow(&workflow_body("b", 1)).await;
    let ka = as_a.create_api_key("a").await;
    let kb = as_b.create_api_key("b").await;
    let task_ids = |w: &Value| -> Vec<String> {
        w["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| id_of(t).to_owned())
            .collect()
    };

    assert_eq!(ids(&get(&as_a, "/api/workflows").await), [id_of(&wa)]);
    assert_eq!(ids(&get(&as_b, "/api/workflows").await), [id_of(&wb)]);
    assert_eq!(
        ids(&get(&as_admin, "/api/workflows").await),
        sorted(vec![id_of(&wa).to_owned(), id_of(&wb).to_owned()])
    );

    assert_eq!(ids(&get(&as_a, "/api/tasks").await), sorted(task_ids(&wa)));
    assert_eq!(ids(&get(&as_b, "/api/tasks").await), task_ids(&wb));
    assert_eq!(ids(&get(&as_admin, "/api/tasks").await).len(), 3);
    // Filtering by another member's workflow finds nothing.
    let filtered = get(&as_a, &format!("/api/tasks?workflow_id={}", id_of(&wb))).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 0);

    assert_eq!(ids(&get(&as_a, "/api/api-keys").await), [id_of(&ka)]);
    assert_eq!(ids(&get(&as_b, "/api/api-keys").await), [id_of(&kb)]);
    assert_eq!(
        ids(&get(&as_admin, "/api/api-keys").await),
        sorted(vec![id_of(&ka).to_owned(), id_of(&kb).to_owned()])
    );

    // Each owns what they create; an admin may act on a member's workflow.
    assert_eq!(wa["owner_id"], a.id.as_str());
    assert_eq!(wb["owner_id"], b.id.as_str());
    let renamed = as_admin
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/workflows/{}", id_of(&wb)),
            &serde_json::json!({"name": "renamed by admin"}),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    // An admin revokes a member's key.
    let revoked = as_admin
        .delete(&format!("/api/api-keys/{}", id_of(&kb)))
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.bearer(kb["key"].as_str().unwrap())
            .get("/api/workflows")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
