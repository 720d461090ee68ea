//! Fan-out: `for_each` runs a task once per element, at most `max_parallel` at a time, each
//! element a durable unit of its own (retried alone, never re-run once completed), joined in
//! order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_testkit::sse;
use baton_testkit::{Api, BatonProcess, FakeLlm, Script, TestApp, TestDatabase, expect_status};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::id_of;
use crate::runs::{DONE, WAIT};
use crate::streaming::llm_app;

const BATON: &str = env!("CARGO_BIN_EXE_baton");

/// `/e/<i>` answers `{"i": i}` after `delay`; the paths in `flaky` answer 503 to their first
/// two requests. Notes every arrival.
#[derive(Clone)]
struct Elements {
    delay: Duration,
    flaky: Vec<String>,
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Respond for Elements {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let mut arrivals = self.arrivals.lock().unwrap();
        let earlier = arrivals.iter().filter(|(p, _)| *p == path).count();
        arrivals.push((path.clone(), Instant::now()));
        if self.flaky.contains(&path) && earlier < 2 {
            return ResponseTemplate::new(503).set_delay(self.delay);
        }
        let i: i64 = path.trim_start_matches("/e/").parse().unwrap_or(-1);
        ResponseTemplate::new(200)
            .set_body_json(json!({"i": i}))
            .set_delay(self.delay)
    }
}

async fn elements_target(delay: Duration, flaky: &[&str]) -> (MockServer, Elements) {
    let server = MockServer::start().await;
    let elements = Elements {
        delay,
        flaky: flaky.iter().map(|s| s.to_string()).collect(),
        arrivals: Arc::default(),
    };
    Mock::given(wiremock::matchers::any())
        .respond_with(elements.clone())
        .mount(&server)
        .await;
    (server, elements)
}

fn fan_out_workflow(base: &str, n: usize, max_parallel: Option<u32>) -> Value {
    let mut each = json!({
        "key": "each", "type": "fetch", "for_each": "{{ steps.list.output }}",
        "input": {"url": format!("{base}/e/{{{{ item }}}}")},
        "retry": {"max_attempts": 3, "initial_ms": 20, "max_ms": 50}
    });
    if let Some(max) = max_parallel {
        each["max_parallel"] = json!(max);
    }
    json!({
        "name": "fan-out", "start": true,
        "tasks": [
            {"key": "list", "type": "transform", "input": {"jq": format!("[range({n})]")}},
            each,
            {"key": "count", "type": "transform", "input": {"jq": ".prev | map(.body.i) | add"}}
        ]
    })
}

fn hits_by_path(elements: &Elements) -> HashMap<String, usize> {
    let mut hits = HashMap::new();
    for (path, _) in elements.arrivals.lock().unwrap().iter() {
        *hits.entry(path.clone()).or_insert(0) += 1;
    }
    hits
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_elements_run_five_at_a_time_join_in_order_and_a_flaky_one_is_retried_alone() {
    let delay = Duration::from_millis(150);
    let (target, elements) = elements_target(delay, &["/e/7"]).await;
    let app = TestApp::spawn().await;
    let wf = app
        .create_workflow(&fan_out_workflow(&target.uri(), 50, Some(5)))
        .await;
    let done = app.wait_for_workflow(id_of(&wf), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!((0..50).sum::<i64>()));
    let each = &done["tasks"][1];
    assert_eq!(each["elements"], 50);
    let output = each["output"].as_array().unwrap();
    let order: Vec<i64> = output
        .iter()
        .map(|o| o["body"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(order, (0..50).collect::<Vec<_>>());
    assert_eq!(
        done["tasks"].as_array().unwrap().len(),
        3,
        "elements are not the workflow's tasks"
    );

    let started = app.events_of_type("task.started").await;
    let of_elements = started.iter().filter(|e| e.get("index").is_some()).count();
    assert_eq!(
        of_elements, 52,
        "every element's start names its index (50 + 2 retries)"
    );
    assert_eq!(
        started.len() - of_elements,
        4,
        "list, each (twice: fan-out, join), count"
    );

    let hits = hits_by_path(&elements);
    assert_eq!(hits["/e/7"], 3, "the flaky element was tried three times");
    assert!(
        hits.iter().all(|(p, n)| p == "/e/7" || *n == 1),
        "every other element ran once: {hits:?}"
    );
    // An element starts only when one of the five before it has had its answer, so no window
    // of one answer's length holds more than five arrivals.
    let arrivals: Vec<Instant> = elements
        .arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| *t)
        .collect();
    let busiest = arrivals
        .iter()
        .map(|&t| {
            arrivals
                .iter()
                .filter(|&&u| u <= t && t - u < delay)
                .count()
        })
        .max()
        .unwrap();
    assert!(busiest <= 5, "{busiest} elements were in flight at once");
    assert!(busiest >= 2, "the elements ran one at a time");
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_lists_join_at_once_and_non_arrays_or_huge_lists_fail_saying_so() {
    let app = TestApp::spawn().await;
    let workflow = |items: Value| {
        json!({"name": "each", "start": true, "input": {"items": items}, "tasks": [
            {"type": "transform", "for_each": "{{ input.items }}", "input": {"jq": ".item"}}
        ]})
    };
    let empty = app.create_workflow(&workflow(json!([]))).await;
    let done = app.wait_for_workflow(id_of(&empty), DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!([]));

    let scalar = app.create_workflow(&workflow(json!("nope"))).await;
    let done = app.wait_for_workflow(id_of(&scalar), DONE, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["tasks"][0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("must render to an array"), "{message}");

    let huge: Vec<i64> = (0..10_001).collect();
    let huge = app.create_workflow(&workflow(json!(huge))).await;
    let done = app.wait_for_workflow(id_of(&huge), DONE, WAIT).await;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["tasks"][0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 10000"), "{message}");
    assert_eq!(app.count("tasks").await, 3, "no element was stored");

    let doubled = app
        .create_workflow(&json!({"name": "x", "start": true, "input": {"xs": [1, 2, 3]}, "tasks": [
            {"type": "transform", "for_each": "{{ input.xs }}", "input": {"jq": ".item * 2 + .index"}}
        ]}))
        .await;
    let done = app.wait_for_workflow(id_of(&doubled), DONE, WAIT).await;
    assert_eq!(done["output"], json!([2, 5, 8]), "{done}");
}

#[tokio::test(flavor = "multi_thread")]
async fn item_outside_a_fan_out_and_max_parallel_without_one_are_refused() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    let response = app
        .post_json(
            "/api/workflows",
            &json!({"name": "x", "tasks": [
                {"type": "transform", "input": {"jq": ".item"}}
            ]}),
        )
        .await;
    let error = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(error.to_string().contains("for_each"), "{error}");
    let response = app
        .post_json(
            "/api/workflows",
            &json!({"name": "x", "tasks": [
                {"type": "transform", "input": {"jq": "1"}, "max_parallel": 2}
            ]}),
        )
        .await;
    let error = expect_status(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error["details"]["fields"][0]["field"], "tasks[0].max_parallel",
        "{error}"
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_llm_fan_out_streams_every_elements_tokens_with_its_index() {
    let fake = FakeLlm::start().await;
    fake.script([
        Script::reply(&["one ", "fox"]),
        Script::reply(&["two ", "foxes"]),
        Script::reply(&["three ", "foxes"]),
    ]);
    let app = llm_app(&fake, &[]).await;
    let wf = app
        .create_workflow(&json!({
            "name": "stories", "start": true, "input": {"topics": ["a", "b", "c"]},
            "tasks": [{"type": "llm", "for_each": "{{ input.topics }}",
                       "input": {"prompt": "Tell me about {{ item }}"}}]
        }))
        .await;
    let id = id_of(&wf);
    let response = app
        .request(reqwest::Method::GET, &format!("/api/workflows/{id}/events"))
        .send()
        .await
        .unwrap();
    let events = sse::collect(response, WAIT).await;
    let mut text_by_index: HashMap<i64, String> = HashMap::new();
    for event in events.iter().filter(|e| e.event == "task.delta") {
        let index = event.data["index"]
            .as_i64()
            .expect("a delta names its element");
        text_by_index
            .entry(index)
            .or_default()
            .push_str(event.data["text"].as_str().unwrap());
    }
    assert_eq!(text_by_index.len(), 3, "{text_by_index:?}");
    let mut texts: Vec<&String> = text_by_index.values().collect();
    texts.sort();
    assert_eq!(texts, ["one fox", "three foxes", "two foxes"]);
    let done = app.wait_for_workflow(id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    let outputs: Vec<&str> = done["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["text"].as_str().unwrap())
        .collect();
    for (index, text) in outputs.iter().enumerate() {
        assert_eq!(
            *text,
            text_by_index[&(index as i64)],
            "element {index} joined in order"
        );
    }
}

/// The indexes of the workflow's elements completed so far, as the API lists them.
async fn completed_elements(process: &BatonProcess, workflow_id: &str) -> HashSet<i64> {
    let mut done = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/tasks?workflow_id={workflow_id}&status=completed&limit=100");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = expect_status(process.get(&path).await, StatusCode::OK).await;
        for task in page["data"].as_array().unwrap() {
            if let Some(index) = task["element_index"].as_i64() {
                done.insert(index);
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return done,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_mid_fan_out_only_unfinished_elements_run_again() {
    let (target, elements) = elements_target(Duration::from_millis(40), &[]).await;
    let db = TestDatabase::new();
    let vars = [
        ("BATON_WORKERS", "8"),
        ("BATON_LEASE_MS", "2000"),
        ("BATON_POLL_MS", "100"),
    ];
    let mut first = BatonProcess::start(BATON, &db.url, &vars).await;
    let wf = first
        .create_workflow(&fan_out_workflow(&target.uri(), 200, None))
        .await;
    let id = id_of(&wf).to_owned();
    baton_testkit::wait_until("40 elements have completed", WAIT, || async {
        completed_elements(&first, &id).await.len() >= 40
    })
    .await;
    let finished_before = completed_elements(&first, &id).await;
    first.kill9();
    assert!(
        finished_before.len() < 200,
        "the fan-out ended before the kill"
    );

    let second = BatonProcess::start(BATON, &db.url, &vars).await;
    let done = second.wait_for_workflow(&id, DONE, WAIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!((0..200).sum::<i64>()));
    let hits = hits_by_path(&elements);
    for index in &finished_before {
        assert_eq!(
            hits[&format!("/e/{index}")],
            1,
            "element {index} had completed before the kill and ran again"
        );
    }
    assert_eq!(hits.len(), 200, "every element ran");
}
