//! kill -9 under load: 1,000 workflows in flight on two `baton serve` processes sharing one
//! store; one of them is killed three times at seeded pseudo-random moments (chosen by progress)
//! and started again. Every workflow completes, no completed step runs again, at most the steps
//! in flight at a kill run twice, and each store task writes one document.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use baton_testkit::{Api, BatonProcess, TestDatabase, expect_status, wait_until};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BATON: &str = env!("CARGO_BIN_EXE_baton");
const WORKFLOWS: usize = 1_000;
const KILLS: usize = 3;
/// Tasks each process runs at once: at most this many are in flight when it is killed.
const WORKERS: usize = 8;
/// The kills land after these fractions of the workflows completed (plus a seeded jitter).
const MOMENTS: [f64; KILLS] = [0.2, 0.5, 0.75];
const SEED: u64 = 0x005e_ed15;
/// The whole run, kills and restarts included, is over well within this.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// xorshift64: the same moments on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The fetch target: answers each workflow's own path after 20 ms, so a kill lands
/// while steps are in flight; counts the calls per path.
async fn target() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path_regex(r"^/w/\d+$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true}))
                .set_delay(Duration::from_millis(20)),
        )
        .mount(&server)
        .await;
    server
}

/// Calls per workflow index.
async fn calls(server: &MockServer) -> HashMap<usize, usize> {
    let mut calls = HashMap::new();
    for request in server.received_requests().await.unwrap() {
        let index = request.url.path()["/w/".len()..].parse().unwrap();
        *calls.entry(index).or_default() += 1;
    }
    calls
}

fn workflow(target: &MockServer, i: usize) -> Value {
    json!({
        "name": format!("load {i}"),
        "start": true,
        "tasks": [
            {"type": "fetch", "input": {"url": format!("{}/w/{i}", target.uri())}},
            {"type": "store", "input": {"collection": "load", "document": {"i": i}}}
        ]
    })
}

/// Creates the workflows through `via`, a few requests at a time; their ids by index.
async fn create_all(via: &BatonProcess, target: &MockServer) -> Vec<String> {
    let mut created: Vec<(usize, String)> = futures_util::stream::iter(0..WORKFLOWS)
        .map(|i| async move {
            let wf = via.create_workflow(&workflow(target, i)).await;
            (i, wf["id"].as_str().unwrap().to_owned())
        })
        .buffer_unordered(16)
        .collect()
        .await;
    created.sort();
    created.into_iter().map(|(_, id)| id).collect()
}

/// Kills `victim` when the documents written reach each moment, and starts it again.
async fn kill_three_times(
    db: &TestDatabase,
    mut victim: BatonProcess,
    vars: &[(&str, &str)],
) -> BatonProcess {
    let mut rng = Rng(SEED);
    for (kill, moment) in MOMENTS.iter().enumerate() {
        let at = (WORKFLOWS as f64 * moment) as i64 + rng.below(50) as i64;
        wait_until(
            &format!("{at} workflows completed before kill {}", kill + 1),
            RUN_LIMIT,
            || async { db.count("documents").await >= at },
        )
        .await;
        victim.kill9();
        eprintln!(
            "kill {}: after {} documents",
            kill + 1,
            db.count("documents").await
        );
        victim = BatonProcess::start(BATON, &db.url, vars).await;
    }
    victim
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_workflows_survive_three_kill_9s_with_only_in_flight_steps_run_twice() {
    let db = TestDatabase::new();
    let target = target().await;
    let vars = [
        ("BATON_WORKERS", "8"),
        ("BATON_LEASE_MS", "3000"),
        ("BATON_POLL_MS", "50"),
    ];
    assert_eq!(vars[0].1, WORKERS.to_string());
    let began = Instant::now();
    // `steady` takes every request; `victim` only works, and is the one killed.
    let steady = BatonProcess::start(BATON, &db.url, &vars).await;
    let victim = BatonProcess::start(BATON, &db.url, &vars).await;

    let (ids, victim) = tokio::join!(
        create_all(&steady, &target),
        kill_three_times(&db, victim, &vars)
    );
    eprintln!("created and killed {KILLS} times in {:?}", began.elapsed());
    wait_until("every workflow wrote its document", RUN_LIMIT, || async {
        db.count("documents").await >= WORKFLOWS as i64
    })
    .await;
    eprintln!("all documents written after {:?}", began.elapsed());

    // Every workflow completed; a fetch step called more than once was attempted again (it
    // was in flight at a kill), never one that had completed.
    let calls = calls(&target).await;
    let workflows: Vec<Value> = futures_util::stream::iter(ids.iter())
        .map(|id| {
            let steady = &steady;
            async move {
                expect_status(
                    steady.get(&format!("/api/workflows/{id}")).await,
                    StatusCode::OK,
                )
                .await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut by_name: HashMap<String, &Value> = HashMap::new();
    for wf in &workflows {
        by_name.insert(wf["name"].as_str().unwrap().to_owned(), wf);
    }
    let mut again = 0;
    for i in 0..WORKFLOWS {
        let wf = by_name[&format!("load {i}")];
        assert_eq!(wf["status"], "completed", "{wf}");
        let fetch_attempts = wf["tasks"][0]["attempt"].as_u64().unwrap() as usize;
        let called = calls.get(&i).copied().unwrap_or_default();
        assert!(called >= 1, "workflow {i} never fetched: {wf}");
        assert!(
            called <= fetch_attempts,
            "workflow {i}: {called} calls in {fetch_attempts} attempts: a completed step ran again"
        );
        again += called - 1;
    }
    let total: usize = calls.values().sum();
    eprintln!("{total} calls for {WORKFLOWS} fetch steps ({again} run again)");
    assert!(
        total - WORKFLOWS <= KILLS * WORKERS,
        "{total} calls: more than the {KILLS} kills x {WORKERS} workers in flight"
    );

    // One document per store task, each workflow's own.
    assert_eq!(db.count("documents").await, WORKFLOWS as i64);
    let mut written = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(c) => format!("/api/documents?collection=load&limit=100&cursor={c}"),
            None => "/api/documents?collection=load&limit=100".to_owned(),
        };
        let page = expect_status(steady.get(&page_path).await, StatusCode::OK).await;
        for doc in page["data"].as_array().unwrap() {
            assert!(
                written.insert(doc["workflow_id"].as_str().unwrap().to_owned()),
                "a second document for {doc}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: HashSet<String> = ids.into_iter().collect();
    assert_eq!(written, expected, "each workflow wrote one document");
    eprintln!("checked after {:?}", began.elapsed());
    drop(victim);
}
