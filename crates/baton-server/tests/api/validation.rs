//! Workflows are checked when they are created or edited (templates, jq programs, the steps
//! they refer to, a model for llm tasks), and on request without being stored
//! (`POST /api/workflows/validate`). What only a run can tell: `strictness.rs`.

use baton_testkit::{Api, TestApp, expect_status};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{error_fields, id_of};

/// A mistake that can be known before anything runs, and how it must be reported.
struct Mistake {
    what: &'static str,
    tasks: Value,
    field: &'static str,
    /// Part of the `expression` the problem is in.
    expression: &'static str,
    /// Parts of the message.
    says: &'static [&'static str],
}

fn mistakes() -> Vec<Mistake> {
    vec![
        Mistake {
            what: "an unknown step key",
            tasks: json!([
                {"key": "shape", "type": "transform", "input": {"jq": ".input"}},
                {"type": "store", "input": {"collection": "c", "document": {"x": "{{ steps.shpe.output }}"}}}
            ]),
            field: "tasks[1].input.document.x",
            expression: "steps.shpe",
            says: &["\"shpe\"", "did you mean `shape`?"],
        },
        Mistake {
            what: "a step that runs later",
            tasks: json!([
                {"type": "fetch", "input": {"url": "https://example.test/{{ steps.later.output.id }}"}},
                {"key": "later", "type": "transform", "input": {"jq": "."}}
            ]),
            field: "tasks[0].input.url",
            expression: "steps.later",
            says: &["position 1", "runs after this one"],
        },
        Mistake {
            what: "prev in the first task",
            tasks: json!([{"type": "store", "input": {"collection": "c", "document": "{{ prev.body }}"}}]),
            field: "tasks[0].input.document",
            expression: "prev",
            says: &["first task"],
        },
        Mistake {
            what: "an unknown root",
            tasks: json!([{"type": "fetch", "input": {"url": "https://example.test/{{ inptu.a }}"}}]),
            field: "tasks[0].input.url",
            expression: "inptu.a",
            says: &["there is no `inptu`", "did you mean `input`?"],
        },
        Mistake {
            what: "an unclosed {{",
            tasks: json!([{"type": "fetch", "input": {"url": "https://example.test/{{ input.a"}}]),
            field: "tasks[0].input.url",
            expression: "https://example.test/{{ input.a",
            says: &["does not parse", "line 1, column", "`}}` missing"],
        },
        Mistake {
            what: "a jq syntax error",
            tasks: json!([{"type": "transform", "input": {"jq": "{a: .input.a,\n b: (.input.b | length}"}}]),
            field: "tasks[0].input.jq",
            expression: "{a: .input.a,",
            says: &["does not parse", "line 2, column 5", "never closed"],
        },
        Mistake {
            what: "an llm task with no model configured",
            tasks: json!([{"type": "llm", "input": {"prompt": "Summarize {{ input.text }}"}}]),
            field: "tasks[0].type",
            expression: "",
            says: &["BATON_LLM_BASE_URL", "BATON_LLM_API_KEY"],
        },
    ]
}

/// The one field error of a 422 (checking the error format on the way).
fn only_field(error: &Value) -> &Value {
    assert_eq!(error["code"], "VALIDATION_ERROR", "{error}");
    let fields = error["details"]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "one problem: {error}");
    &fields[0]
}

fn assert_reported(mistake: &Mistake, field: &Value) {
    let what = mistake.what;
    assert_eq!(field["field"], mistake.field, "{what}: {field}");
    let expression = field["expression"].as_str().unwrap_or_default();
    assert!(expression.contains(mistake.expression), "{what}: {field}");
    let message = field["message"].as_str().unwrap();
    for part in mistake.says {
        assert!(
            message.contains(part),
            "{what}: {part:?} not in {message:?}"
        );
    }
    for debug in ["File {", "Lex(", "Error {", "<string>", "<expression>"] {
        assert!(
            !message.contains(debug),
            "{what}: debug output in {message:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_static_mistake_is_422_naming_field_and_expression_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    for mistake in mistakes() {
        let body = json!({"name": mistake.what, "start": true, "tasks": mistake.tasks});
        let created = expect_status(
            app.post_json("/api/workflows", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_reported(&mistake, only_field(&created));
        // The validate route answers the same, and stores nothing either.
        let validated = expect_status(
            app.post_json("/api/workflows/validate", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(validated, created, "{}", mistake.what);
    }
    assert_eq!(app.snapshot().await, before, "nothing was stored");
    assert_eq!(app.count("workflows").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_problem_of_a_workflow_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "many", "tasks": [
        {"type": "transform", "input": {"jq": ".prev | ."}},
        {"type": "store", "input": {"collection": "c", "document": {"a": "{{ steps.x.output }}", "b": "{{ workflow.nme }}"}}}
    ]});
    let error = expect_status(
        app.post_json("/api/workflows", &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields: Vec<(&str, &str)> = error["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap(),
                f["expression"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("tasks[0].input.jq", ".prev"),
            ("tasks[1].input.document.a", "steps.x.output"),
            ("tasks[1].input.document.b", "workflow.nme"),
        ]
    );
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("3 fields are invalid")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_of_tasks_are_checked_against_the_whole_workflow() {
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(&json!({"name": "edited", "tasks": [
            {"key": "a", "type": "transform", "input": {"jq": "{n: 1}"}},
            {"key": "b", "type": "store", "input": {"collection": "c", "document": "{{ steps.a.output }}"}}
        ]}))
        .await;
    let wf_id = id_of(&wf);
    let a = format!("/api/tasks/{}", id_of(&wf["tasks"][0]));
    let b = format!("/api/tasks/{}", id_of(&wf["tasks"][1]));
    let before = app.snapshot().await;

    // A new task is checked where it goes.
    let error = expect_status(
        app.post_json(
            "/api/tasks",
            &json!({"workflow_id": wf_id, "position": 0, "type": "fetch", "input": {"url": "{{ prev.url }}"}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let field = only_field(&error);
    assert_eq!(
        (field["field"].as_str(), field["expression"].as_str()),
        (Some("input.url"), Some("prev.url"))
    );

    // PUT and PATCH of the task itself.
    let error = expect_status(
        app.put_json(
            &b,
            &json!({"type": "transform", "input": {"jq": ".steps.a.output |"}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let field = only_field(&error);
    assert_eq!(field["field"], "input.jq");
    assert!(
        field["message"]
            .as_str()
            .unwrap()
            .contains("ends too early"),
        "{field}"
    );
    let error = expect_status(
        app.patch_json(
            &b,
            &json!({"input": {"collection": "c", "document": "{{ steps.b.output }}"}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        only_field(&error)["message"]
            .as_str()
            .unwrap()
            .contains("this task itself")
    );

    // What an edit breaks in another task: moving `a` after `b`, renaming or removing `a`.
    for (method, body) in [
        (Method::PATCH, Some(json!({"position": 1}))),
        (Method::PATCH, Some(json!({"key": "renamed"}))),
        (Method::DELETE, None),
    ] {
        let mut request = app.request(method.clone(), &a);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let error = expect_status(
            request.send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let field = only_field(&error);
        assert!(
            field["field"]
                .as_str()
                .unwrap()
                .ends_with("].input.document"),
            "{method} {body:?}: {field}"
        );
        assert_eq!(field["expression"], "steps.a.output", "{method} {body:?}");
    }
    assert_eq!(app.snapshot().await, before, "no edit was applied");

    // Edits that keep the workflow valid go through.
    let ok = app.patch_json(&a, &json!({"title": "first"})).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_answers_valid_or_the_same_422_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let valid = json!({"name": "fine", "input": {"q": "x"}, "start": true, "tasks": [
        {"key": "get", "type": "fetch", "input": {"url": "https://example.test/?q={{ input.q }}"}},
        {"type": "transform", "input": {"jq": "{s: .steps.get.output.status, b: .prev.body}"}},
        {"type": "store", "input": {"collection": "c", "document": "{{ prev }}"}}
    ]});
    let before = app.snapshot().await;
    let answer = expect_status(
        app.post_json("/api/workflows/validate", &valid).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer, json!({"valid": true}));
    // The shape is checked as creating checks it.
    let error = expect_status(
        app.post_json(
            "/api/workflows/validate",
            &json!({"name": "", "tasks": [{"type": "teleport"}]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = error_fields(&error);
    assert_eq!(fields, ["name", "tasks[0].type"]);
    assert_eq!(app.snapshot().await, before, "validating stored nothing");

    // Under an Idempotency-Key it is replayed like any POST; still no workflow.
    for replayed in [false, true] {
        let response = app
            .request(Method::POST, "/api/workflows/validate")
            .header("Idempotency-Key", "validate-once")
            .json(&valid)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers().contains_key("idempotent-replayed"),
            replayed
        );
        assert_eq!(
            expect_status(response, StatusCode::OK).await,
            json!({"valid": true})
        );
    }
    assert_eq!(app.count("workflows").await, 0);
    assert_eq!(app.count("tasks").await, 0);

    // What validates is created.
    let created = app.post_json("/api/workflows", &valid).await;
    assert_eq!(created.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_jq_programs_are_checked_without_crashing_and_long_ones_refused() {
    let app = TestApp::spawn_with(&[("BATON_WORKERS", "0")]).await;
    let transform =
        |jq: String| json!({"name": "deep", "tasks": [{"type": "transform", "input": {"jq": jq}}]});
    // As deep as the longest program allows: parsed and compiled on a thread with a large stack.
    let deep = format!("{}1{}", "[".repeat(8_000), "]".repeat(8_000));
    let ok = app
        .post_json("/api/workflows/validate", &transform(deep))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let longer = "-".repeat(100_000) + "1";
    let error = expect_status(
        app.post_json("/api/workflows", &transform(longer)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let field = only_field(&error);
    assert_eq!(field["field"], "tasks[0].input.jq");
    assert!(
        field["message"]
            .as_str()
            .unwrap()
            .contains("at most 16384 characters"),
        "{field}"
    );
    assert_eq!(app.count("workflows").await, 0);
}
