//! The event log commits each workflow's events in id order, however many transactions append
//! them at once: parallel tasks' steps (with retries, queued and released dependents and claims
//! carried on), batch claims and streamed deltas. A reader that follows a cursor, as the SSE
//! stream does (`events_after` its last id), therefore gets every event. And the locks that
//! order them cannot deadlock: a failure cancelling its running siblings races claims, held
//! events, steps carrying on into other workflows and a cancel, round after round.

use crate::support;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use baton_conformance::support::{
    LONG_LEASE, claim, create_started, events_of, get_workflow, needs, types, workflow,
};
use baton_domain::ports::{EventLog, StoreError, TaskQueue, WorkflowStore};
use baton_domain::{
    CarryOn, Claim, EventKind, Fence, LeaseToken, NewEvent, StepApplied, StepCommit, TaskError,
    TaskStatus, UserId, WorkflowId, WorkflowStatus,
};
use baton_postgres::{PgConfig, PgStore};
use serde_json::json;

/// A store over the test's database with room for every concurrent appender and reader.
fn roomy_store(database: &support::Database) -> PgStore {
    let config = PgConfig {
        max_connections: 40,
        ..PgConfig::new(&database.url)
    };
    PgStore::connect(&config)
        .unwrap_or_else(|err| panic!("connect to the test database {}: {err:#}", database.url))
}

fn delta(claim: &Claim, n: usize) -> NewEvent {
    NewEvent::new(
        claim.task.workflow_id,
        EventKind::TaskDelta {
            task_id: claim.task.id,
            attempt: claim.task.attempt,
            text: format!("{} #{n} ", claim.task.key.as_deref().unwrap_or("?")),
        },
    )
}

/// Streams `deltas` held events of `claim`, stopping at the first one refused (the attempt
/// was ended meanwhile). Answers how many were appended.
async fn stream(store: &PgStore, claim: &Claim, deltas: usize) -> Result<usize, StoreError> {
    for n in 0..deltas {
        if !store.append_held(claim, &delta(claim, n)).await? {
            return Ok(n);
        }
    }
    Ok(deltas)
}

const DELTAS: usize = 6;

/// A worker: claims two tasks at a time, streams deltas for each, fails its first attempt
/// (retried at once: a step leaving the workflow unchanged), completes the second carrying on
/// (the next task claimed in the step), until the workflow is completed.
async fn work(store: PgStore, workflow_id: WorkflowId, worker: String) -> Result<(), StoreError> {
    let carry_on = CarryOn {
        worker: worker.clone(),
        lease: LONG_LEASE,
    };
    let mut claims: VecDeque<Claim> = VecDeque::new();
    loop {
        let Some(claim) = claims.pop_front() else {
            let tokens = [LeaseToken::new(&worker), LeaseToken::new(&worker)];
            let got = store.claim(&tokens, LONG_LEASE).await?;
            if got.is_empty() {
                let now = store
                    .get_workflow(baton_domain::ports::Scope::All, workflow_id)
                    .await?;
                if now.status != WorkflowStatus::Running {
                    return Ok(());
                }
                // Tasks of a workflow locked by another transaction were skipped: look again.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            claims.extend(got);
            continue;
        };
        assert_eq!(
            stream(&store, &claim, DELTAS).await?,
            DELTAS,
            "the lease is held"
        );
        let step = if claim.task.attempt == 1 {
            let error = TaskError::retryable("http", "503 Service Unavailable");
            StepCommit::failed(&claim, None, &error, Some(Duration::ZERO), Fence::Held)
        } else {
            let output = json!({"from": claim.task.key});
            StepCommit::completed(&claim, json!({}), output, None, Some(&carry_on))
        };
        match store.apply_step(&step).await? {
            StepApplied::Applied { next } => claims.extend(next.map(|next| *next)),
            StepApplied::Lost => panic!("the step of {} was lost", claim.task.id),
        }
    }
}

/// Follows the workflow's events from `cursor` as the SSE stream does, a page at a time, until
/// `done` is set and a last read finds nothing new. Answers the ids it got, in order.
async fn follow(
    store: PgStore,
    workflow_id: WorkflowId,
    mut cursor: i64,
    done: Arc<AtomicBool>,
) -> Result<Vec<i64>, StoreError> {
    const PAGE: u32 = 8;
    let mut got = Vec::new();
    loop {
        // Read the flag first: a page read after every appender has finished sees everything.
        let finished = done.load(Ordering::SeqCst);
        let page = store.events_after(workflow_id, cursor, PAGE).await?;
        if let Some(last) = page.last() {
            cursor = last.id;
        }
        let full = page.len() == PAGE as usize;
        got.extend(page.iter().map(|e| e.id));
        if finished && !full {
            return Ok(got);
        }
        if !full {
            tokio::task::yield_now().await;
        }
    }
}

/// Many transactions append events of one workflow at once (each task's deltas, a retry,
/// its completion, claims carried on and batch claims, dependents queued and released) while
/// readers follow it with a cursor: each reader gets exactly the workflow's events, none
/// skipped. Without the workflow lock held from before the ids are allocated until the commit,
/// an event with a smaller id commits after one with a larger id, and a reader whose cursor
/// already passed it never gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_cursor_following_parallel_appenders_misses_no_event() {
    if !support::available().await {
        return;
    }
    const ROOTS: usize = 12;
    const WORKERS: usize = 8;
    const READERS: usize = 4;
    let (_, database) = support::fresh_store().await;
    let store = roomy_store(&database);
    // Roots, a dependent of each (queued or claimed by the root's step), and a join of all the
    // dependents (released by each, queued by the last).
    let roots: Vec<String> = (0..ROOTS).map(|i| format!("r{i}")).collect();
    let mids: Vec<String> = (0..ROOTS).map(|i| format!("m{i}")).collect();
    let mut drafts: Vec<_> = roots.iter().map(|k| needs(k, &[])).collect();
    drafts.extend(roots.iter().zip(&mids).map(|(r, m)| needs(m, &[r])));
    let mid_keys: Vec<&str> = mids.iter().map(String::as_str).collect();
    drafts.push(needs("join", &mid_keys));
    let tasks = drafts.len();
    let new = workflow(UserId::generate(), "parallel appenders", drafts);
    create_started(&store, &new).await;
    let id = new.id();
    let start = store.last_event_id(id).await.expect("the last event id");

    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|_| tokio::spawn(follow(store.clone(), id, start, done.clone())))
        .collect();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(work(store.clone(), id, format!("w{w}"))))
        .collect();
    for worker in workers {
        let worked = tokio::time::timeout(Duration::from_secs(120), worker)
            .await
            .expect("the workers finish")
            .expect("a worker panicked");
        assert!(worked.is_ok(), "a worker failed: {worked:?}");
    }
    done.store(true, Ordering::SeqCst);

    let all = events_of(&store, id).await;
    assert_eq!(
        all.last().map(|e| e.event_type.as_str()),
        Some("workflow.completed")
    );
    let expected: Vec<i64> = all.iter().map(|e| e.id).filter(|i| *i > start).collect();
    // Per task: started, deltas, retrying, started, deltas, completed; then workflow.completed.
    assert_eq!(
        expected.len(),
        tasks * (2 * DELTAS + 4) + 1,
        "{:?}",
        types(&all)
    );
    for (n, reader) in readers.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("the reader finishes")
            .expect("a reader panicked")
            .expect("the reader reads");
        let missed: Vec<&i64> = expected.iter().filter(|i| !got.contains(i)).collect();
        assert!(
            missed.is_empty(),
            "reader {n} skipped {} of {} events: {missed:?}",
            missed.len(),
            expected.len()
        );
        assert_eq!(got, expected, "reader {n}");
    }
}

const ROUNDS: usize = 25;

/// Claims and runs whatever is queued: a delta for each claimed task, then its completion
/// carrying on (a claim of any workflow in the step's transaction). Answers nothing; any store
/// error (a deadlock detected) is returned.
async fn claim_and_run(store: PgStore, worker: String, batches: usize) -> Result<(), StoreError> {
    let carry_on = CarryOn {
        worker: worker.clone(),
        lease: LONG_LEASE,
    };
    for _ in 0..batches {
        let tokens = [LeaseToken::new(&worker), LeaseToken::new(&worker)];
        let mut claims: VecDeque<Claim> = store.claim(&tokens, LONG_LEASE).await?.into();
        while let Some(claim) = claims.pop_front() {
            stream(&store, &claim, 1).await?;
            let step = StepCommit::completed(&claim, json!({}), json!(1), None, Some(&carry_on));
            if let StepApplied::Applied { next: Some(next) } = store.apply_step(&step).await? {
                claims.push_back(*next);
            }
        }
    }
    Ok(())
}

/// A running task streams deltas, then completes carrying on (its step may be lost: the
/// failure cancelled it).
async fn stream_then_complete(store: PgStore, claim: Claim) -> Result<(), StoreError> {
    stream(&store, &claim, 20).await?;
    let carry_on = CarryOn {
        worker: "streamer".into(),
        lease: LONG_LEASE,
    };
    let step = StepCommit::completed(&claim, json!({}), json!(2), None, Some(&carry_on));
    let mut next = match store.apply_step(&step).await? {
        StepApplied::Applied { next } => next,
        StepApplied::Lost => None,
    };
    // What it carried on with (of any workflow) runs to its end too.
    while let Some(claim) = next.take() {
        stream(&store, &claim, 1).await?;
        let step = StepCommit::completed(&claim, json!({}), json!(3), None, Some(&carry_on));
        if let StepApplied::Applied { next: more } = store.apply_step(&step).await? {
            next = more;
        }
    }
    Ok(())
}

/// A task failing for good cancels its workflow's queued and running tasks while those stream
/// deltas and complete, while workers claim batches (tasks of both workflows) and complete
/// them carrying on into either workflow, and while the other workflow is cancelled: nothing
/// deadlocks (Postgres would abort one with an error) or hangs, and once the failure has
/// committed nothing more is appended to the failed workflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_failure_cancelling_siblings_races_claims_and_held_events_without_deadlock() {
    if !support::available().await {
        return;
    }
    let (_, database) = support::fresh_store().await;
    let store = roomy_store(&database);
    for round in 0..ROUNDS {
        let keys: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
        let failing = workflow(
            UserId::generate(),
            &format!("failing {round}"),
            keys.iter().map(|k| needs(k, &[])).collect(),
        );
        create_started(&store, &failing).await;
        let mut running = claim(&store, "w", 3).await;
        assert_eq!(running.len(), 3, "round {round}");
        assert!(
            running.iter().all(|c| c.task.workflow_id == failing.id()),
            "round {round}: only the failing workflow has queued tasks"
        );
        let keys: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
        let other = workflow(
            UserId::generate(),
            &format!("other {round}"),
            keys.iter().map(|k| needs(k, &[])).collect(),
        );
        create_started(&store, &other).await;
        let cancel_other = get_workflow(&store, other.id())
            .await
            .cancel()
            .expect("a running workflow can be cancelled");

        let fail_step = {
            let claim = running.remove(0);
            let error = TaskError::permanent("http", "404 Not Found");
            StepCommit::failed(&claim, None, &error, None, Fence::Held)
        };
        let race = async {
            let fail = {
                let store = store.clone();
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    store.apply_step(&fail_step).await.map(|_| ())
                })
            };
            let streams: Vec<_> = running
                .drain(..)
                .map(|claim| tokio::spawn(stream_then_complete(store.clone(), claim)))
                .collect();
            let workers: Vec<_> = (0..3)
                .map(|w| tokio::spawn(claim_and_run(store.clone(), format!("c{w}"), 3)))
                .collect();
            let cancel = {
                let store = store.clone();
                tokio::spawn(async move {
                    match store.apply_transition(&cancel_other).await {
                        // It completed first.
                        Err(StoreError::Stale(_)) => Ok(()),
                        other => other,
                    }
                })
            };
            let mut results = vec![fail.await, cancel.await];
            for task in streams.into_iter().chain(workers) {
                results.push(task.await);
            }
            results
        };
        let results = tokio::time::timeout(Duration::from_secs(60), race)
            .await
            .unwrap_or_else(|_| panic!("round {round}: the race hangs"));
        for result in results {
            let result = result.unwrap_or_else(|err| panic!("round {round}: panicked: {err}"));
            assert!(result.is_ok(), "round {round}: {result:?}");
        }

        let failed = get_workflow(&store, failing.id()).await;
        assert_eq!(failed.status, WorkflowStatus::Failed, "round {round}");
        let statuses: Vec<TaskStatus> = failed.tasks.iter().map(|t| t.status).collect();
        assert!(
            statuses
                .iter()
                .all(|s| !matches!(s, TaskStatus::Queued | TaskStatus::Running)),
            "round {round}: {statuses:?}"
        );
        let events = events_of(&store, failing.id()).await;
        assert_eq!(
            types(&events).last(),
            Some(&"workflow.failed"),
            "round {round}: nothing is appended after the failure"
        );
        let after = get_workflow(&store, other.id()).await;
        assert!(
            matches!(
                after.status,
                WorkflowStatus::Cancelled | WorkflowStatus::Completed
            ),
            "round {round}: {:?}",
            after.status
        );
        // Whatever the cancel left queued (nothing) or running (nothing) is gone: the next
        // round starts from an empty queue.
        assert!(
            claim(&store, "probe", 1).await.is_empty(),
            "round {round}: nothing is left to claim"
        );
    }
}
