//! Real `baton serve` processes: kill -9 mid-run, two instances sharing work, graceful stop.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use baton_testkit::{Api, BatonProcess, TestDatabase, expect_status};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::runs::DONE;

const BATON: &str = env!("CARGO_BIN_EXE_baton");

async fn create(process: &BatonProcess, body: &Value) -> String {
    let created = process.create_workflow(body).await;
    created["id"].as_str().unwrap().to_owned()
}

async fn hits(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

async fn count(db: &TestDatabase, table: &str) -> i64 {
    baton_testkit::TestApp::count_in(db, table).await
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_a_new_process_finishes_every_workflow_without_rerunning_completed_tasks() {
    let db = TestDatabase::new();
    let fast = MockServer::start().await;
    Mock::given(path("/fast"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"step": 1})))
        .mount(&fast)
        .await;
    let slow = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"step": 2}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&slow)
        .await;
    let vars = [
        ("BATON_WORKERS", "32"),
        ("BATON_LEASE_MS", "2000"),
        ("BATON_POLL_MS", "100"),
    ];
    let mut first = BatonProcess::start(BATON, &db.url, &vars).await;

    const N: usize = 12;
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(
            create(
                &first,
                &json!({
                    "name": format!("crash {i}"),
                    "start": true,
                    "tasks": [
                        {"type": "fetch", "input": {"url": format!("{}/fast", fast.uri())}},
                        {"type": "fetch", "input": {"url": format!("{}/slow", slow.uri())}},
                        {"type": "store", "input": {"collection": "crash", "document": {"i": i, "prev": "{{ prev.body }}"}}}
                    ]
                }),
            )
            .await,
        );
    }
    // Kill it while every workflow is inside its slow step.
    for _ in 0..200 {
        if hits(&slow).await >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hits(&slow).await, N, "all slow steps in flight");
    first.kill9();
    assert_eq!(count(&db, "documents").await, 0);

    let second = BatonProcess::start(BATON, &db.url, &vars).await;
    for id in &ids {
        let done = second
            .wait_for_workflow(id, DONE, Duration::from_secs(60))
            .await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["tasks"][0]["attempt"], 1,
            "the completed first step never ran again"
        );
        assert_eq!(
            done["tasks"][1]["attempt"], 2,
            "the interrupted step ran once more"
        );
    }
    assert_eq!(
        hits(&fast).await,
        N,
        "completed tasks are never re-executed"
    );
    assert_eq!(
        hits(&slow).await,
        2 * N,
        "interrupted tasks ran again (at least once)"
    );
    assert_eq!(
        count(&db, "documents").await,
        N as i64,
        "one document per store task"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_200_workflows_and_complete_each_task_once() {
    let db = TestDatabase::new();
    let target = MockServer::start().await;
    Mock::given(path("/work"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true}))
                .set_delay(Duration::from_millis(20)),
        )
        .mount(&target)
        .await;
    let vars = [("BATON_WORKERS", "8"), ("BATON_POLL_MS", "50")];
    let a = BatonProcess::start(BATON, &db.url, &vars).await;
    let b = BatonProcess::start(BATON, &db.url, &vars).await;

    let mut ids = Vec::new();
    for i in 0..200 {
        let via = if i % 2 == 0 { &a } else { &b };
        ids.push(
            create(
                via,
                &json!({
                    "name": format!("shared {i}"),
                    "start": true,
                    "tasks": [
                        {"type": "fetch", "input": {"url": format!("{}/work", target.uri())}},
                        {"type": "transform", "input": {"jq": ".prev.body.ok"}}
                    ]
                }),
            )
            .await,
        );
    }
    for id in &ids {
        let done = a
            .wait_for_workflow(id, DONE, Duration::from_secs(120))
            .await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["output"], true);
    }

    let completed = db.events_of_type("task.completed").await;
    let task_ids: HashSet<_> = completed.iter().map(|e| e["task_id"].clone()).collect();
    assert_eq!(completed.len(), 400);
    assert_eq!(task_ids.len(), 400, "no task completed twice");
    let started = db.events_of_type("task.started").await;
    let mut by_worker: HashMap<String, usize> = HashMap::new();
    for event in &started {
        *by_worker
            .entry(event["worker"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(by_worker.len(), 2, "both processes did work: {by_worker:?}");
    assert_eq!(started.len(), 400, "every task started once: {by_worker:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_running_tasks_finish_and_hands_back_the_rest() {
    let db = TestDatabase::new();
    let target = MockServer::start().await;
    Mock::given(path("/short"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!(1))
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&target)
        .await;
    Mock::given(path("/long"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!(2))
                .set_delay(Duration::from_millis(4000)),
        )
        .mount(&target)
        .await;
    let vars = [("BATON_SHUTDOWN_GRACE_MS", "2000"), ("BATON_POLL_MS", "50")];
    let mut process = BatonProcess::start(BATON, &db.url, &vars).await;
    let short = create(
        &process,
        &json!({"name": "short", "start": true, "tasks": [
        {"type": "fetch", "input": {"url": format!("{}/short", target.uri())}}]}),
    )
    .await;
    let long = create(
        &process,
        &json!({"name": "long", "start": true, "tasks": [
        {"type": "fetch", "input": {"url": format!("{}/long", target.uri())}}]}),
    )
    .await;
    for _ in 0..100 {
        if hits(&target).await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A client following the long workflow does not hold the stop up: its stream ends.
    let mut following =
        baton_testkit::sse::events(process.get(&format!("/api/workflows/{long}/events")).await);
    let first = following.next().await.expect("the history");
    assert_eq!(first.event, "workflow.started");
    let stopping = std::time::Instant::now();
    let status = process.terminate();
    assert!(status.success(), "a graceful stop exits 0: {status}");
    // Open streams would otherwise hold the HTTP server until its 30 s shutdown timeout.
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "the connected client did not hold the stop up: {:?}",
        stopping.elapsed()
    );
    let rest = tokio::time::timeout(Duration::from_secs(5), following.collect::<Vec<_>>()).await;
    assert!(rest.is_ok(), "the event stream ended with the process");

    let after = BatonProcess::start(BATON, &db.url, &[("BATON_WORKERS", "0")]).await;
    let get = |id: String| {
        let after = &after;
        async move {
            expect_status(
                after.get(&format!("/api/workflows/{id}")).await,
                StatusCode::OK,
            )
            .await
        }
    };
    let short_wf = get(short.clone()).await;
    assert_eq!(
        short_wf["status"], "completed",
        "finished within the grace period: {short_wf}"
    );
    let long_wf = get(long.clone()).await;
    assert_eq!(long_wf["status"], "running");
    assert_eq!(
        long_wf["tasks"][0]["status"], "queued",
        "handed back: {long_wf}"
    );
    assert_eq!(
        long_wf["tasks"][0]["attempt"], 0,
        "the interrupted attempt does not count"
    );
    assert!(long_wf["tasks"][0]["lease_owner"].is_null());
    drop(after);

    // Another process picks it up.
    let next = BatonProcess::start(BATON, &db.url, &vars).await;
    let done = next
        .wait_for_workflow(&long, DONE, Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"]["body"], 2);
}
