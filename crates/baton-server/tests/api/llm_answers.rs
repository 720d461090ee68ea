//! What an `llm` task makes of its answers: structured output checked against a schema and
//! asked again, fallback models, and `task.rewind` on the stream when text is void.

use baton_testkit::{Api, FakeLlm, Script, TestApp};
use serde_json::{Value, json};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};
use crate::streaming::llm_app;

fn structured(schema_attempts: Option<u64>) -> Value {
    let mut input = json!({
        "prompt": "Describe a fox",
        "output_schema": {
            "type": "object",
            "required": ["name", "legs"],
            "properties": {"name": {"type": "string"}, "legs": {"type": "integer"}},
        },
    });
    if let Some(n) = schema_attempts {
        input["schema_attempts"] = json!(n);
    }
    json!({
        "name": "structured",
        "start": true,
        "tasks": [
            {"key": "fox", "type": "llm", "input": input},
            {"key": "legs", "type": "transform", "input": {"jq": ".steps.fox.output.json.legs"}},
        ]
    })
}

async fn finished(app: &TestApp, body: &Value) -> Value {
    let wf = app.create_workflow(body).await;
    app.wait_for_workflow(id_of(&wf), DONE, WAIT).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_breaking_the_schema_is_asked_again_with_its_violations() {
    let fake = FakeLlm::start().await;
    fake.script([
        Script::reply(&["{\"name\": \"Vixen\", ", "\"legs\": \"four\"}"]),
        Script::reply(&["```json\n{\"name\": \"Vixen\", \"legs\": 4}\n```"]),
    ]);
    let app = llm_app(&fake, &[]).await;
    let done = finished(&app, &structured(None)).await;
    assert_eq!(done["status"], "completed", "{done}");
    let output = &done["tasks"][0]["output"];
    assert_eq!(output["json"], json!({"name": "Vixen", "legs": 4}));
    assert_eq!(output["calls"], 2);
    assert_eq!(done["output"], 4, "a downstream template reads output.json");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let format = &requests[0]["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(
        format["json_schema"]["schema"]["required"],
        json!(["name", "legs"])
    );
    let second = requests[1]["messages"].as_array().unwrap();
    assert_eq!(second[second.len() - 2]["role"], "assistant");
    let feedback = second.last().unwrap()["content"].as_str().unwrap();
    assert!(feedback.contains("/legs"), "{feedback}");

    // The first answer's text is void on the stream: a rewind precedes the second's deltas.
    let events = app.events(id_of(&done)).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|(kind, _)| kind.as_str())
        .filter(|k| matches!(*k, "task.delta" | "task.rewind"))
        .collect();
    let rewind = kinds.iter().position(|k| *k == "task.rewind").unwrap();
    assert!(rewind > 0 && rewind < kinds.len() - 1, "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_invalid_answer_fails_the_task_naming_the_violation() {
    let fake = FakeLlm::start().await;
    let bad = || Script::reply(&["{\"name\": \"Vixen\"}"]);
    fake.script([bad(), bad(), bad()]);
    let app = llm_app(&fake, &[]).await;
    let done = finished(&app, &structured(Some(3))).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = &done["tasks"][0]["error"];
    assert_eq!(error["kind"], "llm_schema");
    assert_eq!(error["retryable"], false);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("legs") && message.contains("3 calls"),
        "{message}"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_output_schema_is_refused_when_the_workflow_is_created() {
    let fake = FakeLlm::start().await;
    let app = llm_app(&fake, &[]).await;
    let mut body = structured(Some(9));
    body["tasks"][0]["input"]["output_schema"] = json!({"type": "nope"});
    let response = app
        .client
        .post(app.url("/api/workflows"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    let fields = crate::helpers::error_fields(&error);
    assert!(fields.contains(&"tasks[0].input.output_schema"), "{error}");
    assert!(
        fields.contains(&"tasks[0].input.schema_attempts"),
        "{error}"
    );
    assert_eq!(app.count("workflows").await, 0);
}

fn with_models(models: Value) -> Value {
    json!({
        "name": "fallback",
        "start": true,
        "tasks": [{"key": "a", "type": "llm", "input": {"prompt": "Hi", "model": models},
                   "retry": {"max_attempts": 1}}]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_is_unavailable_falls_back_to_the_next() {
    let fake = FakeLlm::start().await;
    fake.script([
        Script::error(503, "overloaded"),
        Script::reply(&["from", " backup"]),
    ]);
    let app = llm_app(&fake, &[]).await;
    let done = finished(&app, &with_models(json!(["primary", "backup"]))).await;
    assert_eq!(done["status"], "completed", "{done}");
    let output = &done["tasks"][0]["output"];
    assert_eq!(output["text"], "from backup");
    assert_eq!(output["model"], "backup");
    assert_eq!(output["fallbacks"][0]["model"], "primary");
    let models: Vec<Value> = fake.requests().iter().map(|r| r["model"].clone()).collect();
    assert_eq!(models, [json!("primary"), json!("backup")]);
    assert_eq!(done["tasks"][0]["attempt"], 1, "one attempt");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_the_provider_refuses_is_not_sent_to_another_model() {
    let fake = FakeLlm::start().await;
    fake.script([Script::error(400, "context too long")]);
    let app = llm_app(&fake, &[]).await;
    let done = finished(&app, &with_models(json!(["primary", "backup"]))).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["tasks"][0]["error"]["status"], 400);
    assert_eq!(fake.requests().len(), 1);
}
