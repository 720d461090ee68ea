//! Fixtures shared by the contracts: workflows built through the domain's constructors, and
//! reads that fail the test with a message naming what could not be read.

use std::future::Future;
use std::time::Duration;

use baton_domain::ports::{DocumentFilter, PageLimit, PageRequest, Scope, StoreError};
use baton_domain::{
    Claim, Document, Event, LeaseToken, NewWorkflow, StepApplied, StepCommit, Task, TaskDraft,
    TaskId, UserId, Workflow, WorkflowId,
};
use serde_json::json;

use crate::ConformantStore;

/// A lease no test outlives.
pub const LONG_LEASE: Duration = Duration::from_secs(300);

/// How long a test waits for a condition (an expiring lease) before failing.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Enough to read every event or document a test makes.
pub const ALL: u32 = 1_000;

/// A transform task, optionally with a key.
pub fn transform(key: Option<&str>) -> TaskDraft {
    TaskDraft {
        key: key.map(Into::into),
        title: key.map(|k| format!("step {k}")),
        task_type: "transform".into(),
        input: Some(json!({"jq": "."})),
        ..TaskDraft::default()
    }
}

/// A transform task keyed `key` that needs the tasks keyed `deps` (an explicit graph: in a
/// workflow where any task lists its dependencies, a task listing none needs nothing).
pub fn needs(key: &str, deps: &[&str]) -> TaskDraft {
    TaskDraft {
        depends_on: Some(deps.iter().map(|d| (*d).to_owned()).collect()),
        ..transform(Some(key))
    }
}

/// A store task writing into `collection`.
pub fn store_task(collection: &str) -> TaskDraft {
    TaskDraft {
        key: Some("save".into()),
        task_type: "store".into(),
        input: Some(json!({"collection": collection, "document": {"from": "{{ prev }}"}})),
        ..TaskDraft::default()
    }
}

/// A workflow of `tasks` owned by `owner`.
pub fn workflow(owner: UserId, name: &str, tasks: Vec<TaskDraft>) -> NewWorkflow {
    NewWorkflow::new(owner, name.into(), Some(json!({"name": name})), tasks)
        .expect("a valid workflow")
}

/// A workflow of `n` transform tasks keyed `t0`, `t1`, …
pub fn transforms(owner: UserId, name: &str, n: usize) -> NewWorkflow {
    let keys: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    workflow(
        owner,
        name,
        keys.iter().map(|k| transform(Some(k))).collect(),
    )
}

/// Stores `new` without starting it.
pub async fn create<S: ConformantStore>(store: &S, new: &NewWorkflow) {
    store
        .create_workflow(new, None)
        .await
        .expect("create a pending workflow");
}

/// Stores `new` started (its first task queued) in the same transaction.
pub async fn create_started<S: ConformantStore>(store: &S, new: &NewWorkflow) {
    let start = new.start().expect("the domain starts a new workflow");
    store
        .create_workflow(new, Some(&start))
        .await
        .expect("create a started workflow");
}

/// A started workflow of `n` transform tasks.
pub async fn started<S: ConformantStore>(store: &S, owner: UserId, n: usize) -> NewWorkflow {
    let new = transforms(owner, "started", n);
    create_started(store, &new).await;
    new
}

pub async fn get_workflow<S: ConformantStore>(store: &S, id: WorkflowId) -> Workflow {
    store
        .get_workflow(Scope::All, id)
        .await
        .unwrap_or_else(|err| panic!("read workflow {id}: {err}"))
}

pub async fn get_task<S: ConformantStore>(store: &S, id: TaskId) -> Task {
    store
        .get_task(Scope::All, id)
        .await
        .unwrap_or_else(|err| panic!("read task {id}: {err}"))
}

/// Claims with fresh tokens of `worker`, one per wanted task.
pub async fn claim<S: ConformantStore>(store: &S, worker: &str, n: usize) -> Vec<Claim> {
    let tokens: Vec<LeaseToken> = (0..n).map(|_| LeaseToken::new(worker)).collect();
    store
        .claim(&tokens, LONG_LEASE)
        .await
        .expect("claim queued tasks")
}

/// Claims exactly one task, failing the test when there is none.
pub async fn claim_one<S: ConformantStore>(store: &S, worker: &str) -> Claim {
    let mut claims = claim(store, worker, 1).await;
    assert_eq!(claims.len(), 1, "one task is claimable");
    claims.remove(0)
}

/// Claims with one token more than `expected` has tasks and fails the test unless exactly
/// those tasks were claimed; returns their claims in the order of `expected`.
pub async fn claim_exactly<S: ConformantStore>(
    store: &S,
    worker: &str,
    expected: &[TaskId],
) -> Vec<Claim> {
    let mut claims = claim(store, worker, expected.len() + 1).await;
    let mut got: Vec<TaskId> = claims.iter().map(|c| c.task.id).collect();
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(got, want, "exactly these tasks are claimable");
    claims.sort_by_key(|c| expected.iter().position(|id| *id == c.task.id));
    claims
}

/// Applies a step that must apply, returning the claim it made for the worker, if any.
pub async fn apply<S: ConformantStore>(store: &S, step: &StepCommit) -> Option<Claim> {
    match store.apply_step(step).await.expect("apply the step") {
        StepApplied::Applied { next } => next.map(|claim| *claim),
        StepApplied::Lost => panic!("the step of task {} was lost", step.task_id),
    }
}

/// Every event of a workflow, oldest first.
pub async fn events_of<S: ConformantStore>(store: &S, id: WorkflowId) -> Vec<Event> {
    store
        .events_after(id, 0, ALL)
        .await
        .expect("read the workflow's events")
}

/// The `type`s of events, in order.
pub fn types(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

pub fn page(limit: u32, after: Option<uuid::Uuid>) -> PageRequest {
    PageRequest {
        limit: PageLimit::new(limit).expect("a valid page limit"),
        after,
    }
}

/// Every document in the store, newest first.
pub async fn all_documents<S: ConformantStore>(store: &S) -> Vec<Document> {
    store
        .list_documents(
            Scope::All,
            DocumentFilter::default(),
            page(PageLimit::MAX, None),
        )
        .await
        .expect("list documents")
        .items
}

/// What a workflow looks like to the store's readers: itself with its tasks, its events, and
/// every document. Equal snapshots mean a change changed nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub workflow: Workflow,
    pub events: Vec<Event>,
    pub documents: Vec<Document>,
}

pub async fn snapshot<S: ConformantStore>(store: &S, id: WorkflowId) -> Snapshot {
    Snapshot {
        workflow: get_workflow(store, id).await,
        events: events_of(store, id).await,
        documents: all_documents(store).await,
    }
}

/// Polls `condition` until it holds, failing the test naming `what` after [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Fails unless `result` is `NotFound`.
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Fails unless `result` is `Stale`.
pub fn assert_stale<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Stale(_)) => {}
        other => panic!("{what}: expected Stale, got {other:?}"),
    }
}
