//! The auth matrix, generated from the route table (`baton_server::api::ROUTES`): a route added
//! to the table is checked here without anyone remembering to. Every protected route refuses
//! anonymous and bad credentials with 401, every admin route refuses members with 403, and every
//! route naming a resource answers 404 to a member reaching another member's resource.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use baton_server::api::{Access, ROUTES, Route, Serve};
use baton_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, Api, JWT_SECRET, Member, TestApp, expect_status};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::id_of;

const UNKNOWN: &str = "0193b2f4-0000-7000-8000-000000000000";

/// Member B's resources, one for each kind of `{id}` in the route table.
struct Resources {
    workflow: String,
    task: String,
    api_key: String,
    document: String,
    schedule: String,
    /// The name of a definition of member B's.
    definition: String,
}

/// The `{name}` of a path under a workflow (a signal's).
const SIGNAL: &str = "approval";

impl Resources {
    /// `route.path` with `{id}` naming the resource of the right kind.
    fn path(&self, route: &Route) -> String {
        if route.path.starts_with("/api/definitions/") {
            return route.path.replace("{name}", &self.definition);
        }
        if !route.path.contains("{id}") {
            return route.path.to_owned();
        }
        let id = match route.path.split('/').nth(2) {
            Some("workflows") => &self.workflow,
            Some("tasks") => &self.task,
            Some("api-keys") => &self.api_key,
            Some("documents") => &self.document,
            Some("schedules") => &self.schedule,
            _ => panic!(
                "{route:?}: no resource of member B for this path; add one to \
                 `Resources` in tests/api/auth_matrix.rs"
            ),
        };
        route.path.replace("{id}", id).replace("{name}", SIGNAL)
    }

    fn any(route: &Route) -> String {
        route
            .path
            .replace("{id}", UNKNOWN)
            .replace("{name}", SIGNAL)
    }
}

/// A body the route accepts, so that what is tested is access, not validation.
fn body(route: &Route, resources: Option<&Resources>) -> Option<Value> {
    let workflow = resources.map_or(UNKNOWN, |r| r.workflow.as_str());
    match (route.method, route.path) {
        ("POST", "/api/workflows") => Some(json!({"name": "matrix", "tasks": []})),
        ("PATCH", "/api/workflows/{id}") => Some(json!({"name": "renamed"})),
        ("POST", "/api/tasks") => {
            Some(json!({"workflow_id": workflow, "type": "transform", "input": {"jq": "."}}))
        }
        ("PUT", "/api/tasks/{id}") => Some(json!({"type": "transform", "input": {"jq": "."}})),
        ("PATCH", "/api/tasks/{id}") => Some(json!({"title": "renamed"})),
        ("POST", "/api/api-keys") => Some(json!({"name": "matrix"})),
        ("POST", "/api/admin/users") => {
            Some(json!({"email": "matrix@baton.test", "password": "a long password"}))
        }
        ("POST", "/api/definitions") => Some(json!({
            "name": "matrix", "tasks": [{"type": "transform", "input": {"jq": "."}}]
        })),
        ("PUT", "/api/definitions/{name}") => {
            Some(json!({"tasks": [{"type": "transform", "input": {"jq": "."}}]}))
        }
        ("POST", "/api/schedules") => Some(json!({"definition": "matrix", "cron": "0 9 * * *"})),
        ("POST", "/api/auth/login") => {
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        }
        ("POST" | "PUT" | "PATCH", _) => Some(json!({})),
        _ => None,
    }
}

fn send(request: RequestBuilder, body: Option<Value>) -> RequestBuilder {
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
}

fn method(route: &Route) -> Method {
    Method::from_bytes(route.method.as_bytes()).unwrap()
}

/// A 401 in the error format, with a `WWW-Authenticate: Bearer` challenge.
async fn assert_unauthorized(response: reqwest::Response, what: &str) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let error = expect_status(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error["code"], "UNAUTHORIZED", "{what}: {error}");
    assert!(error["error"].is_string(), "{what}: {error}");
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer")),
        "{what}: WWW-Authenticate {challenge:?}"
    );
}

fn protected() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(|r| r.access != Access::Public)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_protected_route_refuses_requests_without_credentials() {
    let app = TestApp::spawn_authenticated().await;
    let before = app.snapshot().await;
    for route in ROUTES {
        let path = Resources::any(route);
        let response = send(app.request(method(route), &path), body(route, None))
            .send()
            .await
            .unwrap();
        match route.access {
            Access::Public => {
                let status = response.status();
                match route.serve {
                    Serve::Redirect(to) => {
                        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT, "{route:?}");
                        assert_eq!(response.headers()["location"], to, "{route:?}");
                    }
                    _ => assert!(
                        status.is_success(),
                        "{route:?} is public but answered {status}"
                    ),
                }
            }
            Access::User | Access::Admin => {
                assert_unauthorized(response, &format!("{route:?} without credentials")).await;
            }
        }
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "refused requests changed nothing"
    );
    assert_eq!(app.count("users").await, 1, "only the first admin");
}

/// Tokens that must never be accepted, and why.
fn bad_credentials(member: &Member) -> Vec<(&'static str, String)> {
    let now = chrono::Utc::now().timestamp();
    let claims =
        |exp: i64| json!({"sub": member.id, "role": "member", "iat": now - 7_200, "exp": exp});
    let sign = |alg: Algorithm, claims: &Value, secret: &[u8]| {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    };
    let expired = sign(
        Algorithm::HS256,
        &claims(now - 3_600),
        JWT_SECRET.as_bytes(),
    );
    // The member's real token, with the payload changed to claim the admin role.
    let mut parts: Vec<&str> = member.token.split('.').collect();
    let admin_claims = URL_SAFE_NO_PAD.encode(
        json!({"sub": member.id, "role": "admin", "iat": now, "exp": now + 3_600}).to_string(),
    );
    parts[1] = &admin_claims;
    let tampered = parts.join(".");
    let hs512 = sign(
        Algorithm::HS512,
        &claims(now + 3_600),
        JWT_SECRET.as_bytes(),
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        admin_claims
    );
    let foreign = sign(
        Algorithm::HS256,
        &claims(now + 3_600),
        b"someone else's secret, also 32 bytes long",
    );
    vec![
        ("expired", format!("Bearer {expired}")),
        ("tampered", format!("Bearer {tampered}")),
        ("wrong algorithm (HS512)", format!("Bearer {hs512}")),
        ("wrong algorithm (none)", format!("Bearer {unsigned}")),
        ("signed with another secret", format!("Bearer {foreign}")),
        ("garbage", "Bearer not-a-token".to_owned()),
        (
            "unknown API key",
            "Bearer baton_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
        (
            "not a bearer",
            format!("Basic {}", URL_SAFE_NO_PAD.encode("a:b")),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_protected_route_refuses_expired_tampered_and_foreign_tokens() {
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let member = app.create_member(&admin, "member@baton.test").await;
    let before = app.snapshot().await;
    let credentials = bad_credentials(&member);
    for route in protected() {
        let path = Resources::any(route);
        for (why, authorization) in &credentials {
            let request = app
                .request(method(route), &path)
                .header("Authorization", authorization);
            let response = send(request, body(route, None)).send().await.unwrap();
            assert_unauthorized(response, &format!("{route:?} with a token {why}")).await;
        }
        let request = app.request(method(route), &path).header(
            "X-API-Key",
            "baton_unknownkeyunknownkeyunknownkeyunknownkey0",
        );
        let response = send(request, body(route, None)).send().await.unwrap();
        assert_unauthorized(response, &format!("{route:?} with an unknown X-API-Key")).await;
    }
    assert_eq!(app.snapshot().await, before);
    // The member's genuine token still works: only the forgeries were refused.
    let ok = app.bearer(&member.token).get("/api/workflows").await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn members_get_403_on_every_admin_route_and_admins_pass() {
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let member = app.create_member(&admin, "member@baton.test").await;
    let admin_routes: Vec<&Route> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Admin)
        .collect();
    assert!(!admin_routes.is_empty());
    for route in &admin_routes {
        let path = Resources::any(route);
        let request = app.bearer(&member.token).request(method(route), &path);
        let response = send(request, body(route, None)).send().await.unwrap();
        let error = expect_status(response, StatusCode::FORBIDDEN).await;
        assert_eq!(error["code"], "FORBIDDEN", "{route:?}: {error}");
    }
    assert_eq!(app.count("users").await, 2, "the member created no user");
    for route in &admin_routes {
        let path = Resources::any(route);
        let request = app.bearer(&admin).request(method(route), &path);
        let response = send(request, body(route, None)).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{route:?} as admin: {}",
            response.status()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn member_a_gets_404_on_each_of_member_bs_resources() {
    let app = TestApp::spawn_authenticated().await;
    let admin = app.admin_token().await;
    let a = app.create_member(&admin, "a@baton.test").await;
    let b = app.create_member(&admin, "b@baton.test").await;
    let as_b = app.bearer(&b.token);

    // B's resources: a pending workflow with a task, an API key, a stored document.
    let workflow = as_b
        .create_workflow(
            &json!({"name": "b's", "tasks": [{"type": "transform", "input": {"jq": "1"}}]}),
        )
        .await;
    let key = as_b.create_api_key("b's key").await;
    let stored = as_b
        .create_workflow(&json!({
            "name": "b's document", "start": true,
            "tasks": [{"type": "store", "input": {"collection": "notes", "document": {"n": 1}}}]
        }))
        .await;
    let done = as_b
        .wait_for_workflow(id_of(&stored), &["completed", "failed"], crate::runs::WAIT)
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    expect_status(
        as_b.post_json(
            "/api/definitions",
            &json!({"name": "b-s", "tasks": [{"type": "transform", "input": {"jq": "1"}}]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let schedule = expect_status(
        as_b.post_json(
            "/api/schedules",
            &json!({"definition": "b-s", "cron": "0 0 1 1 *"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let resources = Resources {
        workflow: id_of(&workflow).to_owned(),
        task: id_of(&workflow["tasks"][0]).to_owned(),
        api_key: id_of(&key).to_owned(),
        document: done["tasks"][0]["output"]["document_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        schedule: id_of(&schedule).to_owned(),
        definition: "b-s".to_owned(),
    };
    let before = app.snapshot().await;
    let definitions = app.count("definitions").await;

    let mut checked = 0;
    // A definition's name is its owner's: A's PUT of B's name saves A's own (not checked here).
    let names_a_resource = |r: &&Route| {
        r.path.contains("{id}") || (r.path.starts_with("/api/definitions/") && r.method != "PUT")
    };
    for route in protected().filter(|r| r.access == Access::User && names_a_resource(r)) {
        let path = resources.path(route);
        let request = app.bearer(&a.token).request(method(route), &path);
        let response = send(request, body(route, Some(&resources)))
            .send()
            .await
            .unwrap();
        let error = expect_status(response, StatusCode::NOT_FOUND).await;
        assert_eq!(error["code"], "NOT_FOUND", "{route:?} as A: {error}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} routes name a resource");
    // Adding a task to B's workflow names it in the body.
    let add_task = ROUTES
        .iter()
        .find(|r| r.path == "/api/tasks" && r.method == "POST")
        .unwrap();
    let response = app
        .bearer(&a.token)
        .post_json("/api/tasks", &body(add_task, Some(&resources)).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    assert_eq!(app.snapshot().await, before, "A changed nothing of B's");
    assert_eq!(app.count("definitions").await, definitions);
    let shown = expect_status(
        as_b.get(&format!("/api/schedules/{}", resources.schedule))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown["paused"], false, "A did not pause B's schedule");
    let still = expect_status(
        as_b.get(&format!("/api/workflows/{}", resources.workflow))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (still["version"].as_i64(), still["status"].as_str()),
        (Some(1), Some("pending"))
    );
    let key_works = app
        .bearer(key["key"].as_str().unwrap())
        .get("/api/workflows")
        .await;
    assert_eq!(
        key_works.status(),
        StatusCode::OK,
        "B's key was not revoked by A"
    );
    // An administrator reaches B's resources.
    let seen = app
        .bearer(&admin)
        .get(&format!("/api/workflows/{}", resources.workflow))
        .await;
    assert_eq!(seen.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_handled_route_is_in_the_openapi_document() {
    let app = TestApp::spawn_authenticated().await;
    let doc = expect_status(app.get("/api/openapi.json").await, StatusCode::OK).await;
    for route in ROUTES
        .iter()
        .filter(|r| matches!(r.serve, Serve::Handler(_)))
    {
        let operation = &doc["paths"][route.path][route.method.to_lowercase()];
        assert!(operation.is_object(), "{route:?} is not documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
