//! jq programs that loop inside one builtin stop at their time limit and give the CPU back;
//! programs that would build a huge value fail for good instead of taking the memory.

use std::time::Duration;

use baton_testkit::{Api, BatonProcess, TestApp, TestDatabase};
use serde_json::{Value, json};

use super::{LIMIT, read_back};
use crate::helpers::id_of;
use crate::runs::DONE;

const BATON: &str = env!("CARGO_BIN_EXE_baton");

const RUNAWAYS: [&str; 3] = [
    "reduce range(1e12) as $i (0; .+1)",
    "last(range(1e18))",
    "[limit(1e18; range(1e18))] | length",
];

fn transform(program: &str) -> Value {
    json!({
        "name": "runaway",
        "start": true,
        "tasks": [{"type": "transform", "input": {"jq": program}, "retry": {"max_attempts": 2, "initial_ms": 10, "max_ms": 10}}]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn runaway_programs_fail_at_their_limit_and_stop_using_the_cpu() {
    let db = TestDatabase::new();
    let baton = BatonProcess::start(
        BATON,
        &db.url,
        &[
            ("BATON_TRANSFORM_TIMEOUT_MS", "300"),
            ("BATON_POLL_MS", "100"),
        ],
    )
    .await;
    let mut ids = Vec::new();
    for program in RUNAWAYS {
        ids.push(id_of(&baton.create_workflow(&transform(program)).await).to_owned());
    }
    for (id, program) in ids.iter().zip(RUNAWAYS) {
        let done = baton.wait_for_workflow(id, DONE, LIMIT).await;
        assert_eq!(done["status"], "failed", "{program}: {done}");
        let tasks = read_back(&baton, id, "failed").await;
        let error = &tasks[0]["error"];
        assert_eq!(error["kind"], "timeout", "{program}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains("300 ms"),
            "{program}: {error}"
        );
        assert_eq!(
            tasks[0]["attempt"], 1,
            "a timed-out program is not run again"
        );
    }
    // Six program threads spinning on would use a core each: over a second, seconds of CPU.
    let before = baton.cpu_time();
    let window = Duration::from_secs(1);
    tokio::time::sleep(window).await;
    let used = baton.cpu_time() - before;
    assert!(
        used < window / 4,
        "the process used {used:?} of CPU in {window:?} after its programs failed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transforms_stop_at_ten_seconds_by_default_not_at_the_tasks_five_minutes() {
    let app = TestApp::spawn().await;
    let wf = app.create_workflow(&transform("last(range(1e18))")).await;
    let id = id_of(&wf);
    let done = app
        .wait_for_workflow(id, DONE, Duration::from_secs(40))
        .await;
    assert_eq!(done["status"], "failed", "{done}");
    let tasks = read_back(&app, id, "failed").await;
    let message = tasks[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("10000 ms"), "{message}");
}

const MEMORY_RUNAWAYS: [&str; 2] = ["\"x\" * 1e12", "reduce range(40) as $i (\"x\"; . + .)"];

/// Far more than the bounds let a program hold (a 64 MiB string and the half it is built from),
/// far less than either program would take unbounded (a terabyte at once; gigabytes).
const PEAK_RESIDENT_BYTES: u64 = 512 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn programs_that_would_take_the_memory_fail_for_good_and_the_process_lives_on() {
    let db = TestDatabase::new();
    let mut baton = BatonProcess::start(BATON, &db.url, &[("BATON_POLL_MS", "100")]).await;
    for program in MEMORY_RUNAWAYS {
        let id = id_of(&baton.create_workflow(&transform(program)).await).to_owned();
        let done = baton.wait_for_workflow(&id, DONE, LIMIT).await;
        assert_eq!(done["status"], "failed", "{program}: {done}");
        let tasks = read_back(&baton, &id, "failed").await;
        let error = &tasks[0]["error"];
        assert_eq!(error["kind"], "jq", "{program}: {error}");
        assert_eq!(error["retryable"], false, "{program}: {error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("a string over 67108864 bytes"),
            "{program}: {error}"
        );
        assert_eq!(tasks[0]["attempt"], 1, "{program} is not run again");
    }
    assert!(baton.is_running(), "the process survived");
    let peak = baton.peak_resident_bytes();
    assert!(
        peak < PEAK_RESIDENT_BYTES,
        "the process held {} MiB at its peak",
        peak / 1024 / 1024
    );
    // And it still answers as jq does.
    let wf = baton.create_workflow(&transform("\"ab\" * 3")).await;
    let id = id_of(&wf).to_owned();
    let done = baton.wait_for_workflow(&id, DONE, LIMIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    let tasks = read_back(&baton, &id, "completed").await;
    assert_eq!(tasks[0]["output"], "ababab", "{}", tasks[0]);
}
