//! Postgres stopped and started again under a running `baton serve` (a private cluster: the
//! shared server is never stopped), and Postgres down when Baton starts.

use std::process::{Command, Stdio};
use std::time::Duration;

use baton_testkit::{Api, Backend, BatonProcess, PrivatePostgres, wait_until};
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::id_of;
use crate::runs::DONE;

const BATON: &str = env!("CARGO_BIN_EXE_baton");
const N: usize = 30;

/// These tests stop a database of their own: they run once, in the Postgres half of the suite.
fn postgres_half() -> bool {
    Backend::from_env() == Backend::Postgres
}

async fn readyz(baton: &BatonProcess) -> u16 {
    match baton
        .client
        .get(baton.url("/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_restart_mid_step_loses_nothing_and_reruns_no_completed_step() {
    if !postgres_half() {
        return;
    }
    let pg = std::sync::Arc::new(blocking(PrivatePostgres::start).await);
    let target = MockServer::start().await;
    Mock::given(path("/first"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"step": 1})))
        .mount(&target)
        .await;
    Mock::given(path("/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"step": 2}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&target)
        .await;
    let mut baton = BatonProcess::start(
        BATON,
        &pg.url,
        &[
            ("BATON_WORKERS", "40"),
            ("BATON_LEASE_MS", "2000"),
            ("BATON_POLL_MS", "100"),
            ("BATON_DB_POOL_SIZE", "16"),
        ],
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..N {
        let body = json!({
            "name": format!("restart {i}"),
            "start": true,
            "tasks": [
                {"type": "fetch", "input": {"url": format!("{}/first", target.uri())}},
                {"type": "fetch", "input": {"url": format!("{}/slow", target.uri())},
                 "retry": {"max_attempts": 10, "initial_ms": 200, "max_ms": 1000}},
                {"type": "store", "input": {"collection": "restart", "document": {"i": i}}}
            ]
        });
        ids.push(id_of(&baton.create_workflow(&body).await).to_owned());
    }
    let slow_hits = || async {
        target
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/slow")
            .count()
    };
    wait_until(
        "every workflow is inside its slow step",
        Duration::from_secs(30),
        || async { slow_hits().await >= N },
    )
    .await;

    let stopping = pg.clone();
    blocking(move || stopping.stop(false)).await;
    wait_until("/readyz answers 503", Duration::from_secs(20), || async {
        readyz(&baton).await == 503
    })
    .await;
    // The slow steps finish while the database is away: their results cannot be recorded.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        baton.is_running(),
        "Baton does not exit when the database goes away"
    );
    assert_eq!(readyz(&baton).await, 503);

    let starting = pg.clone();
    blocking(move || starting.start_again()).await;
    wait_until(
        "/readyz answers 200 again",
        Duration::from_secs(30),
        || async { readyz(&baton).await == 200 },
    )
    .await;
    for id in &ids {
        let done = baton
            .wait_for_workflow(id, DONE, Duration::from_secs(90))
            .await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["tasks"][0]["attempt"], 1,
            "a completed step never ran again"
        );
        for task in done["tasks"].as_array().unwrap() {
            assert_eq!(task["status"], "completed", "{task}");
        }
    }
    let requests = target.received_requests().await.unwrap();
    let first = requests.iter().filter(|r| r.url.path() == "/first").count();
    assert_eq!(first, N, "completed first steps are never re-executed");
    let slow = slow_hits().await;
    assert!(
        (N..=2 * N).contains(&slow),
        "in-flight steps ran again at most once each: {slow} calls for {N} steps"
    );
    let documents = expect_documents(&baton).await;
    assert_eq!(documents, N, "each store task one document");
    assert!(baton.is_running());
}

async fn expect_documents(baton: &BatonProcess) -> usize {
    let list = baton_testkit::expect_status(
        baton
            .get("/api/documents?collection=restart&limit=100")
            .await,
        reqwest::StatusCode::OK,
    )
    .await;
    list["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_down_at_startup_stops_baton_with_a_clear_message() {
    if !postgres_half() {
        return;
    }
    let pg = std::sync::Arc::new(blocking(PrivatePostgres::start).await);
    let stopping = pg.clone();
    blocking(move || stopping.stop(false)).await;
    let url = pg.url.clone();
    let output = blocking(move || {
        Command::new(BATON)
            .arg("serve")
            .current_dir(std::env::temp_dir())
            .env_clear()
            .env("DATABASE_URL", url)
            .env("BATON_BIND", "127.0.0.1:0")
            .env("BATON_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .output()
    });
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("Baton gives up in bounded time")
        .unwrap();
    assert!(!output.status.success(), "it exits non-zero");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect to Postgres"), "{stderr}");
}
