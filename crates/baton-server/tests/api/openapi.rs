//! The served OpenAPI document as client generators read it: unique operationIds, the bounds the
//! text states, every status an operation can answer (each error in the one error format), and
//! request examples the real server accepts. And the way a browser finds the reference from `/`.

use std::collections::BTreeSet;

use baton_server::api::{Access, ROUTES, Route, Serve};
use baton_testkit::{Api, FakeLlm, TestApp, expect_status};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::id_of;

/// One operation of the document.
struct Operation<'a> {
    method: String,
    path: String,
    op: &'a Value,
}

impl Operation<'_> {
    fn id(&self) -> &str {
        self.op["operationId"].as_str().unwrap_or_default()
    }

    fn has_status(&self, status: &str) -> bool {
        self.op["responses"].get(status).is_some()
    }

    fn parameters(&self) -> impl Iterator<Item = &Value> {
        self.op["parameters"].as_array().into_iter().flatten()
    }

    fn has_parameter(&self, name: &str) -> bool {
        self.parameters().any(|p| p["name"] == name)
    }

    /// Whether the operation takes a JSON request body.
    fn takes_json(&self) -> bool {
        self.op["requestBody"]["content"]
            .get("application/json")
            .is_some()
    }

    /// The route of the table this operation documents.
    fn route(&self) -> Option<&'static Route> {
        ROUTES
            .iter()
            .find(|r| r.path == self.path && r.method.eq_ignore_ascii_case(&self.method))
    }
}

impl std::fmt::Display for Operation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.id())
    }
}

fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            all.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                op,
            });
        }
    }
    assert!(all.len() >= 25, "only {} operations", all.len());
    all
}

/// `value`, or what its `$ref` points at.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} points at nothing")),
        None => value,
    }
}

async fn served_document(app: &TestApp) -> Value {
    expect_status(app.get("/api/openapi.json").await, StatusCode::OK).await
}

#[tokio::test(flavor = "multi_thread")]
async fn operation_ids_are_present_unique_and_name_what_they_do() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let mut seen = BTreeSet::new();
    for operation in operations(&doc) {
        let id = operation.id();
        assert!(
            id.len() > 3
                && id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{operation}: the operationId must be a camelCase name"
        );
        assert!(seen.insert(id.to_owned()), "{operation}: a second {id}");
        assert!(
            operation.op["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{operation} has no summary"
        );
    }
    for id in [
        "createWorkflow",
        "listWorkflows",
        "getWorkflow",
        "createTask",
        "login",
    ] {
        assert!(seen.contains(id), "{id} is missing: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_state_the_bounds_and_formats_the_server_checks() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let mut limits = 0;
    for operation in operations(&doc) {
        for parameter in operation.parameters() {
            let schema = &parameter["schema"];
            match (parameter["in"].as_str(), parameter["name"].as_str()) {
                (Some("query"), Some("limit")) => {
                    limits += 1;
                    assert_eq!(schema["type"], "integer", "{operation}: {parameter}");
                    assert_eq!(schema["minimum"], 1, "{operation}: {parameter}");
                    assert_eq!(schema["maximum"], 100, "{operation}: {parameter}");
                    assert_eq!(schema["default"], 20, "{operation}: {parameter}");
                }
                (Some("path"), Some("id")) | (Some("query"), Some("workflow_id")) => {
                    assert_eq!(schema["format"], "uuid", "{operation}: {parameter}");
                }
                _ => {}
            }
        }
        if operation.has_parameter("cursor") {
            assert!(
                operation.has_parameter("limit"),
                "{operation} pages without a limit"
            );
        }
    }
    assert!(limits >= 5, "every list takes a limit; {limits} found");
}

/// Statuses that `operation` must document, and why.
fn required_statuses(operation: &Operation) -> Vec<(&'static str, &'static str)> {
    let mut required = vec![("500", "any request may fail")];
    if !matches!(operation.path.as_str(), "/healthz" | "/readyz") {
        required.push((
            "429",
            "the rate limit applies to every route but the probes",
        ));
    }
    if operation.takes_json() {
        required.extend([
            ("400", "malformed JSON"),
            ("413", "a body over BATON_MAX_BODY_BYTES"),
            ("415", "a body that is not JSON"),
            ("422", "a JSON body of the wrong shape"),
        ]);
    }
    if operation.path.contains("{id}") {
        required.extend([
            ("400", "an id that is not a UUID"),
            ("404", "an unknown id"),
        ]);
    }
    if operation.has_parameter("If-Match") {
        required.extend([("400", "a malformed If-Match"), ("412", "a stale If-Match")]);
    }
    if operation.has_parameter("Idempotency-Key") {
        required.extend([
            ("400", "a malformed Idempotency-Key"),
            ("409", "an Idempotency-Key in flight"),
            ("422", "an Idempotency-Key used for another request"),
        ]);
    }
    let route = operation
        .route()
        .unwrap_or_else(|| panic!("{operation} is not in the route table"));
    if route.access != Access::Public {
        required.extend([
            ("401", "authentication applies"),
            ("503", "credentials or the store may be unavailable"),
        ]);
    }
    if route.access == Access::Admin {
        required.push(("403", "members may not"));
    }
    required
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_documents_every_status_it_can_answer_in_the_error_format() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    for operation in operations(&doc) {
        for (status, why) in required_statuses(&operation) {
            assert!(
                operation.has_status(status),
                "{operation} does not document {status} ({why})"
            );
        }
        if operation.method == "POST" && operation.path != "/api/auth/login" {
            assert!(
                operation.has_parameter("Idempotency-Key"),
                "{operation}: every POST but the login takes an Idempotency-Key"
            );
        }
        for (status, response) in operation.op["responses"].as_object().unwrap() {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            let response = resolve(&doc, response);
            let content = response["content"].as_object();
            let schemas: Vec<&Value> = content
                .into_iter()
                .flatten()
                .map(|(_, media)| &media["schema"])
                .collect();
            assert!(
                !schemas.is_empty()
                    && schemas
                        .iter()
                        .all(|s| s["$ref"] == "#/components/schemas/ErrorBody"),
                "{operation}: {status} must answer the ErrorBody schema, not {response}"
            );
        }
    }
}

/// A request example of the document: where it goes and what it sends.
struct Example {
    method: Method,
    path: String,
    operation_id: String,
    name: String,
    body: Value,
}

fn request_examples(doc: &Value) -> Vec<Example> {
    let mut examples = Vec::new();
    for operation in operations(doc) {
        let Some(body) = operation.op.get("requestBody") else {
            continue;
        };
        let media = &resolve(doc, body)["content"]["application/json"];
        let named = media["examples"].as_object().cloned().unwrap_or_default();
        assert!(
            !named.is_empty(),
            "{operation}: its request body has no example"
        );
        for (name, example) in named {
            examples.push(Example {
                method: Method::from_bytes(operation.method.as_bytes()).unwrap(),
                path: operation.path.clone(),
                operation_id: operation.id().to_owned(),
                name,
                body: resolve(doc, &example)["value"].clone(),
            });
        }
    }
    examples
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_example_is_accepted_by_the_server() {
    let fake = FakeLlm::start().await;
    // The credentials of the login example (README.md's first administrator).
    let app = TestApp::spawn_authenticated_with(&[
        ("BATON_ADMIN_EMAIL", "admin@example.com"),
        ("BATON_ADMIN_PASSWORD", "change me now"),
        ("BATON_LLM_BASE_URL", &fake.base_url),
        ("BATON_LLM_API_KEY", "sk-test"),
    ])
    .await;
    let doc = served_document(&app).await;
    let examples = request_examples(&doc);
    for id in [
        "createWorkflow",
        "createTask",
        "login",
        "createApiKey",
        "createCompletion",
        "createSecret",
        "putSecret",
        "createDefinition",
        "putDefinition",
        "runDefinition",
        "createSchedule",
    ] {
        assert!(
            examples.iter().any(|e| e.operation_id == id),
            "{id} has no request example"
        );
    }
    // The login example's answer is the caller of every other example.
    let login = examples.iter().find(|e| e.operation_id == "login").unwrap();
    let answer = expect_status(
        app.send_json(login.method.clone(), &login.path, &login.body)
            .await,
        StatusCode::OK,
    )
    .await;
    let caller = app.bearer(answer["access_token"].as_str().unwrap());
    // The definition the definition and schedule examples name, whatever their order.
    expect_status(
        caller
            .put_json(
                &format!("/api/definitions/{}", baton_server::api::EXAMPLE_DEFINITION),
                &json!({"tasks": [{"type": "transform", "input": {"jq": "."}}]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    for example in examples.iter().filter(|e| e.operation_id != "login") {
        // Ids in examples name a pending workflow (or its task) of the caller's.
        let pending = caller
            .create_workflow(&json!({
                "name": "for an example",
                "tasks": [{"type": "transform", "input": {"jq": "."}}]
            }))
            .await;
        let path = if example.path.starts_with("/api/workflows/") {
            example
                .path
                .replace("{id}", id_of(&pending))
                .replace("{name}", "approval")
        } else if example.path.starts_with("/api/tasks/") {
            example.path.replace("{id}", id_of(&pending["tasks"][0]))
        } else if example.path.starts_with("/api/definitions/") {
            example
                .path
                .replace("{name}", baton_server::api::EXAMPLE_DEFINITION)
        } else if example.path.starts_with("/api/secrets/") {
            // A secret of the caller's, as the example made it (or a new one: PUT creates).
            example.path.replace("{name}", "WEATHER_API_KEY")
        } else {
            assert!(!example.path.contains('{'), "{}: which id?", example.path);
            example.path.clone()
        };
        let mut body = example.body.clone();
        if body.get("workflow_id").is_some() {
            body["workflow_id"] = pending["id"].clone();
        }
        let response = caller.send_json(example.method.clone(), &path, &body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_success(),
            "{} example {:?} of {}: {status} {text}",
            example.operation_id,
            example.name,
            example.method
        );
    }
    assert!(
        !fake.requests().is_empty(),
        "the completions reached the model"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn docs_without_a_slash_leads_a_browser_to_the_api_reference() {
    let app = TestApp::spawn_authenticated().await;
    let route = ROUTES
        .iter()
        .find(|r| r.method == "GET" && r.path == "/docs")
        .expect("GET /docs is in the route table");
    assert!(
        matches!(route.serve, Serve::Redirect("/docs/")),
        "{route:?}"
    );
    let response = app.get("/docs").await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(response.headers()["location"], "/docs/");
    let ui = app.get("/docs/").await;
    assert_eq!(ui.status(), StatusCode::OK);
    // The reference runs inline script: the dashboard's policy is not on it.
    assert!(!ui.headers().contains_key("content-security-policy"));
    assert!(ui.text().await.unwrap().contains("swagger"));
}

#[tokio::test(flavor = "multi_thread")]
async fn event_streams_are_described_one_event_at_a_time() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let mut described = 0;
    for operation in operations(&doc) {
        let Some(responses) = operation.op["responses"].as_object() else {
            continue;
        };
        for (status, response) in responses {
            let response = resolve(&doc, response);
            let Some(schema) = response.pointer("/content/text~1event-stream/schema") else {
                continue;
            };
            // As OpenAPI 3.2's itemSchema and schemathesis read it: the schema of one event,
            // an object whose `data` is the text of its data lines.
            let schema = resolve(&doc, schema);
            assert_eq!(schema["type"], "object", "{operation} {status}: {schema}");
            assert_eq!(
                schema["properties"]["data"]["type"], "string",
                "{operation} {status}: {schema}"
            );
            described += 1;
        }
    }
    assert!(
        described >= 1,
        "the streamed completion describes its events"
    );
}
