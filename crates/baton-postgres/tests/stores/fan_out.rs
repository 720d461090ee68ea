//! Fan-out on Postgres: what the conformance suite cannot see. Every step of a fan-out (the
//! expansion inserting its elements, an element's step, the join) is one statement whatever the
//! element count, the workflow reads take a constant number of statements however many
//! elements and workflows they cover, and elements run by parallel workers (batch claims, held
//! events, steps carrying on, a failure cancelling the running ones, a retry) keep the lock
//! order of the task-graph migration: nothing deadlocks, and the workflow's events commit in id
//! order, so that a cursor following them misses none.

use crate::support;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use baton_conformance::support::{
    LONG_LEASE, claim_exactly, create, create_started, events_of, get_workflow, page, transform,
    types, workflow,
};
use baton_domain::ports::{EventLog, Scope, StoreError, TaskQueue, WorkflowFilter, WorkflowStore};
use baton_domain::{
    CarryOn, Claim, EventKind, Fence, LeaseToken, NewEvent, StepApplied, StepCommit, TaskDraft,
    TaskError, TaskId, TaskStatus, UserId, WorkflowId, WorkflowStatus,
};
use baton_postgres::{PgConfig, PgStore};
use serde_json::{Value, json};

/// A transform fanning out over the workflow input's `items`.
fn fan_out(key: &str, max_parallel: Option<u32>) -> TaskDraft {
    TaskDraft {
        for_each: Some("{{ input.items }}".into()),
        max_parallel,
        ..transform(Some(key))
    }
}

fn items(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"n": i})).collect()
}

fn ids(new: &baton_domain::NewWorkflow) -> Vec<TaskId> {
    new.tasks().iter().map(|t| t.id()).collect()
}

/// A store over the test's database with room for every concurrent appender and reader.
fn roomy_store(database: &support::Database) -> PgStore {
    let config = PgConfig {
        max_connections: 40,
        ..PgConfig::new(&database.url)
    };
    PgStore::connect(&config)
        .unwrap_or_else(|err| panic!("connect to the test database {}: {err:#}", database.url))
}

/// Applies `step` in exactly one statement; answers the task claimed for the worker.
async fn one_statement(store: &PgStore, step: &StepCommit, what: &str) -> Option<Claim> {
    let before = store.statements_executed();
    let applied = store
        .apply_step(step)
        .await
        .unwrap_or_else(|err| panic!("{what}: {err:?}"));
    assert_eq!(store.statements_executed() - before, 1, "{what}");
    match applied {
        StepApplied::Applied { next } => next.map(|next| *next),
        StepApplied::Lost => panic!("{what}: the step was lost"),
    }
}

/// The expansion, each element's step (carrying on into the next element, or into the parent
/// the last one released) and the join are one statement each, for a fan-out of 3 and of 400
/// elements; the workflow reads (one workflow, or a page of 1 or of 7) take as many statements
/// whatever the element and workflow counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_is_one_statement_per_step_and_reads_are_constant() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    let carry_on = CarryOn {
        worker: "w".into(),
        lease: LONG_LEASE,
    };
    let owner = UserId::generate();
    let mut reads = Vec::new();
    for n in [3usize, 400] {
        if n > 3 {
            // More workflows on the page (pending ones, with nothing to claim).
            for i in 0..5 {
                let pending = workflow(owner, &format!("pending {i}"), vec![fan_out("p", None)]);
                create(&store, &pending).await;
            }
        }
        let new = workflow(owner, &format!("fan {n}"), vec![fan_out("each", Some(2))]);
        create_started(&store, &new).await;
        let tasks = ids(&new);
        let parent = claim_exactly(&store, "w", &tasks).await.remove(0);
        let step = StepCommit::expanded(&parent, items(n), Some(2), Some(&carry_on));
        let mut next = one_statement(&store, &step, "the expansion").await;
        let mut done = 0;
        let joiner = loop {
            let claim = match next.take() {
                Some(claim) => claim,
                // The other queued element: as another worker claims it.
                None => store
                    .claim(&[LeaseToken::new("w")], LONG_LEASE)
                    .await
                    .expect("claim")
                    .pop()
                    .expect("a queued element, or the released parent"),
            };
            if claim.task.parent_task_id.is_none() {
                break claim;
            }
            assert_eq!(claim.task.parent_task_id, Some(tasks[0]));
            let index = claim.task.element_index.expect("an element");
            let step = StepCommit::completed(
                &claim,
                json!({}),
                json!({"i": index}),
                None,
                Some(&carry_on),
            );
            next = one_statement(&store, &step, "an element's step").await;
            done += 1;
        };
        assert_eq!(done, n, "every element ran before the parent joins");
        assert_eq!(joiner.task.id, tasks[0]);
        assert_eq!(joiner.task.elements, Some(n as i32));

        let before = store.statements_executed();
        let workflow_now = store
            .get_workflow(Scope::All, new.id())
            .await
            .expect("get the workflow");
        reads.push(("get_workflow", n, store.statements_executed() - before));
        assert_eq!(
            workflow_now.tasks.len(),
            1,
            "the elements are not its tasks"
        );
        assert!(workflow_now.elements_to_retry.is_empty());

        let before = store.statements_executed();
        let results = store
            .element_results(tasks[0])
            .await
            .expect("element results");
        assert_eq!(store.statements_executed() - before, 1, "element_results");
        assert_eq!(results.len(), n);
        assert!(
            results
                .iter()
                .enumerate()
                .all(|(i, r)| r.index == i as i32 && r.output == Some(json!({"i": i})))
        );
        let outputs: Vec<Value> = results.into_iter().filter_map(|r| r.output).collect();
        let step = StepCommit::completed(&joiner, json!({}), Value::Array(outputs), None, None);
        one_statement(&store, &step, "the join").await;

        let before = store.statements_executed();
        let page_of = store
            .list_workflows(Scope::All, WorkflowFilter::default(), page(50, None))
            .await
            .expect("list workflows");
        reads.push((
            "list_workflows",
            page_of.items.len(),
            store.statements_executed() - before,
        ));
        assert!(page_of.items.iter().all(|w| w.tasks.len() == 1));
    }
    assert_eq!(
        reads[0].2, reads[2].2,
        "get_workflow at any size: {reads:?}"
    );
    assert_eq!(
        reads[1].2, reads[3].2,
        "list_workflows at any page size: {reads:?}"
    );
}

const DELTAS: usize = 3;

fn delta(claim: &Claim, n: usize) -> NewEvent {
    NewEvent::new(
        claim.task.workflow_id,
        EventKind::TaskDelta {
            task_id: claim.task.id,
            attempt: claim.task.attempt,
            text: format!("#{n} "),
        },
    )
}

/// The step a worker decides for `claim`: the parent fans out (then joins), an element fails
/// its first attempt (retried at once) and completes its second; `fail_index` fails for good.
async fn decide(
    store: &PgStore,
    claim: &Claim,
    n: usize,
    fail_index: Option<i32>,
    carry_on: &CarryOn,
) -> Result<StepCommit, StoreError> {
    if claim.task.parent_task_id.is_none() {
        if claim.task.elements.is_none() {
            return Ok(StepCommit::expanded(
                claim,
                items(n),
                claim.task.max_parallel,
                Some(carry_on),
            ));
        }
        let results = store.element_results(claim.task.id).await?;
        let outputs = results.into_iter().filter_map(|r| r.output).collect();
        return Ok(StepCommit::completed(
            claim,
            json!({}),
            Value::Array(outputs),
            None,
            Some(carry_on),
        ));
    }
    if claim.task.element_index == fail_index {
        let error = TaskError::permanent("http", "404 Not Found");
        return Ok(StepCommit::failed(claim, None, &error, None, Fence::Held));
    }
    Ok(if claim.task.attempt == 1 {
        let error = TaskError::retryable("http", "503 Service Unavailable");
        StepCommit::failed(claim, None, &error, Some(Duration::ZERO), Fence::Held)
    } else {
        let output = json!({"i": claim.task.element_index});
        StepCommit::completed(claim, json!({}), output, None, Some(carry_on))
    })
}

/// A worker: claims two tasks at a time, streams deltas for each (stopping when the lease is
/// gone: a failure cancelled it), applies what it decides, until the workflow is over.
async fn work(
    store: PgStore,
    workflow_id: WorkflowId,
    worker: String,
    n: usize,
    fail_index: Option<i32>,
) -> Result<(), StoreError> {
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
                let now = store.get_workflow(Scope::All, workflow_id).await?;
                if now.status != WorkflowStatus::Running {
                    return Ok(());
                }
                // Tasks of a workflow locked by another transaction were skipped: look again.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            claims.extend(got);
            continue;
        };
        for d in 0..DELTAS {
            if !store.append_held(&claim, &delta(&claim, d)).await? {
                break;
            }
        }
        let step = decide(&store, &claim, n, fail_index, &carry_on).await?;
        if let StepApplied::Applied { next } = store.apply_step(&step).await? {
            claims.extend(next.map(|next| *next));
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

/// Runs a workflow of one fan-out of `n` elements (`max_parallel` at a time) with `workers`
/// parallel workers and `readers` following its events; answers its events and checks that
/// each reader got every one of them, in id order.
async fn run_with_readers(
    store: &PgStore,
    name: &str,
    n: usize,
    max_parallel: Option<u32>,
    fail_index: Option<i32>,
) -> Vec<baton_domain::Event> {
    const WORKERS: usize = 8;
    const READERS: usize = 3;
    let new = baton_domain::NewWorkflow::new(
        UserId::generate(),
        name.into(),
        Some(json!({"items": items(n)})),
        vec![fan_out("each", max_parallel)],
    )
    .unwrap_or_else(|err| panic!("a valid workflow: {err:?}"));
    create_started(store, &new).await;
    let id = new.id();
    let start = store
        .last_event_id(id)
        .await
        .unwrap_or_else(|err| panic!("the last event id: {err:?}"));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|_| tokio::spawn(follow(store.clone(), id, start, done.clone())))
        .collect();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(work(store.clone(), id, format!("w{w}"), n, fail_index)))
        .collect();
    for worker in workers {
        let worked = tokio::time::timeout(Duration::from_secs(120), worker)
            .await
            .unwrap_or_else(|_| panic!("{name}: the workers hang"))
            .unwrap_or_else(|err| panic!("{name}: a worker panicked: {err}"));
        assert!(worked.is_ok(), "{name}: a worker failed: {worked:?}");
    }
    done.store(true, Ordering::SeqCst);
    let all = events_of(store, id).await;
    let expected: Vec<i64> = all.iter().map(|e| e.id).filter(|i| *i > start).collect();
    for (r, reader) in readers.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .unwrap_or_else(|_| panic!("{name}: reader {r} hangs"))
            .unwrap_or_else(|err| panic!("{name}: reader {r} panicked: {err}"))
            .unwrap_or_else(|err| panic!("{name}: reader {r} failed: {err:?}"));
        assert_eq!(got, expected, "{name}: reader {r}");
    }
    all
}

/// Parallel workers run a fan-out's elements (batch claims, held deltas, a retry each, steps
/// carrying on into the next element, the last releasing the parent, the join) while readers
/// follow the workflow's events: nothing deadlocks, every reader gets every event, the parent
/// joins once, with every element's output by index.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn parallel_elements_commit_their_events_in_order() {
    if !support::available().await {
        return;
    }
    const N: usize = 30;
    let (_, database) = support::fresh_store().await;
    let store = roomy_store(&database);
    for (round, max_parallel) in [None, Some(4)].into_iter().enumerate() {
        let events =
            run_with_readers(&store, &format!("parallel {round}"), N, max_parallel, None).await;
        let kinds = types(&events);
        assert_eq!(kinds.last(), Some(&"workflow.completed"), "round {round}");
        assert_eq!(
            kinds.iter().filter(|k| **k == "task.fanned_out").count(),
            1,
            "round {round}"
        );
        // workflow.started; the parent: started twice, deltas, fanned out, completed; each
        // element: started, deltas, retrying, started, deltas, completed; workflow.completed.
        assert_eq!(
            events.len(),
            1 + (2 * (1 + DELTAS) + 2) + N * (2 * (1 + DELTAS) + 2) + 1,
            "round {round}: {kinds:?}"
        );
        let output = events
            .last()
            .map(|e| e.data["output"].clone())
            .unwrap_or_default();
        assert_eq!(
            output,
            Value::Array((0..N).map(|i| json!({"i": i})).collect()),
            "round {round}: the join's output, by index"
        );
    }
}

/// An element failing for good while its siblings stream, retry and complete carrying on, and
/// workers claim: nothing deadlocks or hangs, the failure cancels the running and queued
/// elements, nothing is appended after workflow.failed, and a retry reruns the failed and
/// cancelled elements to completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_failing_element_races_its_siblings_and_a_retry_completes() {
    if !support::available().await {
        return;
    }
    const N: usize = 24;
    let (_, database) = support::fresh_store().await;
    let store = roomy_store(&database);
    for round in 0..6 {
        let name = format!("failing {round}");
        let fail_index = Some(5 + round);
        let events = run_with_readers(&store, &name, N, Some(6), fail_index).await;
        assert_eq!(
            types(&events).last(),
            Some(&"workflow.failed"),
            "{name}: nothing is appended after the failure"
        );
        let workflow_id = events[0].workflow_id;
        let failed = get_workflow(&store, workflow_id).await;
        assert_eq!(failed.status, WorkflowStatus::Failed, "{name}");
        assert_eq!(failed.tasks.len(), 1, "{name}: only the parent");
        assert_eq!(failed.tasks[0].status, TaskStatus::Pending, "{name}");
        assert!(
            !failed.elements_to_retry.is_empty(),
            "{name}: the failed element at least"
        );
        let elements = store
            .element_results(failed.tasks[0].id)
            .await
            .expect("element results");
        assert_eq!(elements.len(), N, "{name}");
        assert!(
            elements
                .iter()
                .all(|e| !matches!(e.status, TaskStatus::Queued | TaskStatus::Running)),
            "{name}: {elements:?}"
        );
        let to_retry: Vec<i32> = elements
            .iter()
            .filter(|e| matches!(e.status, TaskStatus::Failed | TaskStatus::Cancelled))
            .map(|e| e.index)
            .collect();
        assert_eq!(
            failed.elements_to_retry.len(),
            to_retry.len(),
            "{name}: every failed or cancelled element, by index {to_retry:?}"
        );

        let retry = failed.retry().expect("a failed workflow can be retried");
        store.apply_transition(&retry).await.expect("retry");
        let resumed = get_workflow(&store, workflow_id).await;
        assert!(resumed.elements_to_retry.is_empty(), "{name}: requeued");
        let workers: Vec<_> = (0..4)
            .map(|w| tokio::spawn(work(store.clone(), workflow_id, format!("r{w}"), N, None)))
            .collect();
        for worker in workers {
            let worked = tokio::time::timeout(Duration::from_secs(120), worker)
                .await
                .unwrap_or_else(|_| panic!("{name}: the retry hangs"))
                .expect("a worker panicked");
            assert!(worked.is_ok(), "{name}: {worked:?}");
        }
        let done = get_workflow(&store, workflow_id).await;
        assert_eq!(done.status, WorkflowStatus::Completed, "{name}");
        assert_eq!(
            done.output,
            Some(Value::Array((0..N).map(|i| json!({"i": i})).collect())),
            "{name}"
        );
    }
}
