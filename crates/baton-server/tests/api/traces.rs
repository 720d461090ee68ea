//! OTLP trace export: a real `baton serve` process (the global subscriber is set once per
//! process) posting its spans to a fake collector on loopback.

use std::time::{Duration, Instant};

use baton_testkit::{Api, BatonProcess, TestDatabase};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BATON: &str = env!("CARGO_BIN_EXE_baton");
const WAIT: Duration = Duration::from_secs(60);

/// A collector that accepts every export.
async fn collector() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// Every span the collector has received, as (service name, span name, attributes); panics on
/// a request that is not a protobuf OTLP/HTTP trace export.
async fn received_spans(server: &MockServer) -> Vec<(String, String, Vec<KeyValue>)> {
    let mut spans = Vec::new();
    for request in server.received_requests().await.unwrap() {
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.url.path(), "/v1/traces");
        assert_eq!(
            request.headers.get("content-type").unwrap(),
            "application/x-protobuf"
        );
        let export = ExportTraceServiceRequest::decode(request.body.as_slice()).unwrap();
        for resource_spans in export.resource_spans {
            let resource = resource_spans.resource.unwrap_or_default();
            let service =
                string_attribute(&resource.attributes, "service.name").unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((service.clone(), span.name, span.attributes));
                }
            }
        }
    }
    spans
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|value| match value {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// Whether the collector holds the `task` span of `workflow_id`'s run.
async fn has_task_span(server: &MockServer, workflow_id: &str) -> bool {
    received_spans(server)
        .await
        .iter()
        .any(|(_, name, attributes)| {
            name == "task"
                && string_attribute(attributes, "workflow_id").as_deref() == Some(workflow_id)
        })
}

/// Starts a one-transform workflow and waits for it to complete.
async fn run_one(process: &BatonProcess) -> String {
    let created = process
        .create_workflow(&json!({
            "name": "traced",
            "start": true,
            "tasks": [{"type": "transform", "input": {"jq": "{traced: true}"}}]
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let done = process
        .wait_for_workflow(&id, &["completed", "failed", "cancelled"], WAIT)
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_exported_to_the_collector_as_protobuf_spans_of_the_baton_service() {
    let db = TestDatabase::new();
    let collector = collector().await;
    let vars = [
        ("BATON_OTLP_ENDPOINT", collector.uri()),
        // Batches go out every 100 ms rather than every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let process = BatonProcess::start(BATON, &db.url, &vars).await;
    let id = run_one(&process).await;

    let deadline = Instant::now() + WAIT;
    while !has_task_span(&collector, &id).await {
        assert!(
            Instant::now() < deadline,
            "no task span of {id} exported; received {:?}",
            received_spans(&collector).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spans = received_spans(&collector).await;
    assert!(
        spans.iter().all(|(service, _, _)| service == "baton"),
        "{spans:?}"
    );
    assert!(
        spans.iter().any(|(_, name, attributes)| name == "request"
            && string_attribute(attributes, "path").as_deref() == Some("/api/workflows")),
        "the HTTP request span is exported too: {spans:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_still_buffered_are_sent_when_the_server_stops() {
    let db = TestDatabase::new();
    let collector = collector().await;
    let vars = [
        ("BATON_OTLP_ENDPOINT", collector.uri()),
        // No scheduled export during the test: only the shutdown can send the batch.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned()),
        ("OTEL_SERVICE_NAME", "baton-eu".to_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut process = BatonProcess::start(BATON, &db.url, &vars).await;
    let id = run_one(&process).await;
    assert!(
        received_spans(&collector).await.is_empty(),
        "nothing is exported before the batch is due"
    );

    assert!(process.terminate().success());
    assert!(
        has_task_span(&collector, &id).await,
        "the last batch is flushed on shutdown"
    );
    let spans = received_spans(&collector).await;
    assert!(
        spans.iter().all(|(service, _, _)| service == "baton-eu"),
        "OTEL_SERVICE_NAME names the service: {spans:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_baton_otlp_endpoint_nothing_is_exported() {
    let db = TestDatabase::new();
    let collector = collector().await;
    // The SDK's own variable alone does not turn export on.
    let endpoint = collector.uri();
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let mut process = BatonProcess::start(BATON, &db.url, &vars).await;
    run_one(&process).await;
    assert!(process.terminate().success());
    assert!(received_spans(&collector).await.is_empty());
}
