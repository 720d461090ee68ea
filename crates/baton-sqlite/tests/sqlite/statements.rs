//! Lists cost a constant number of statements whatever they hold; big workflows go in and move
//! in a constant number too, and a sequential step costs what it did before tasks formed a graph.

use baton_conformance::support::{
    LONG_LEASE, apply, claim_one, create, create_started, get_workflow, page, store_task,
    transforms, workflow,
};
use baton_domain::ports::{
    DocumentStore, PageRequest, Scope, TaskFilter, TaskQueue, WorkflowFilter, WorkflowStore,
};
use baton_domain::{
    CarryOn, NewDocument, StepApplied, StepCommit, TaskPatch, UserId, WorkflowStatus,
};
use baton_sqlite::SqliteStore;
use serde_json::json;

use crate::fresh;

/// The statements one call of `f` sends.
async fn cost<F, Fut, T>(store: &SqliteStore, f: F) -> u64
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let before = store.statements_executed();
    f().await;
    store.statements_executed() - before
}

async fn list_costs(store: &SqliteStore, owner: UserId) -> [u64; 4] {
    let scope = Scope::Owner(owner);
    [
        cost(store, || {
            store.list_workflows(scope, WorkflowFilter::default(), page(100, None))
        })
        .await,
        cost(store, || {
            store.list_workflows(
                Scope::All,
                WorkflowFilter::default(),
                PageRequest::default(),
            )
        })
        .await,
        cost(store, || {
            store.list_tasks(scope, TaskFilter::default(), page(100, None))
        })
        .await,
        cost(store, || store.list_documents(scope, None, page(100, None))).await,
    ]
}

async fn add_documented_workflows(store: &SqliteStore, owner: UserId, n: usize) {
    for i in 0..n {
        let new = workflow(owner, &format!("w{i}"), vec![store_task("notes")]);
        baton_conformance::support::create_started(store, &new).await;
        let claim = claim_one(store, "w").await;
        let document = NewDocument {
            id: uuid::Uuid::now_v7(),
            collection: "notes".into(),
            data: json!({"i": i}),
        };
        let step = StepCommit::completed(&claim, json!({}), json!({}), Some(document), None);
        apply(store, &step).await;
        create(store, &transforms(owner, "pending", 4)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_cost_a_constant_number_of_statements() {
    let (store, _dir) = fresh().await;
    let owner = UserId::generate();
    add_documented_workflows(&store, owner, 1).await;
    let few = list_costs(&store, owner).await;
    add_documented_workflows(&store, owner, 30).await;
    let many = list_costs(&store, owner).await;
    assert_eq!(few, many, "the same statements for 2 workflows as for 62");
    assert!(
        many.iter().all(|&n| n <= 4),
        "a page and its tasks, in one read transaction: {many:?}"
    );
    let listed = store
        .list_workflows(
            Scope::Owner(owner),
            WorkflowFilter::default(),
            page(100, None),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 62);
    assert_eq!(
        listed.items.iter().map(|w| w.tasks.len()).sum::<usize>(),
        31 + 30 * 4 + 4
    );
}

/// A workflow of the most tasks allowed is stored in one insert, and moving its first task to
/// the end (999 neighbours shifting) costs as much as moving it one place.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_tasks_insert_and_move_in_constant_statements() {
    let (store, _dir) = fresh().await;
    let new = transforms(
        UserId::generate(),
        "big",
        baton_domain::MAX_TASKS_PER_WORKFLOW,
    );
    let created = cost(&store, || store.create_workflow(&new, None)).await;
    assert!(created <= 4, "begin, workflow, tasks, commit: {created}");

    let mut costs = Vec::new();
    for to in [1, 999] {
        let read = baton_conformance::support::get_workflow(&store, new.id()).await;
        let first = read.tasks[0].id;
        let patch = TaskPatch {
            position: Some(to),
            ..TaskPatch::default()
        };
        let edit = read.update_task(first, &patch, None).unwrap();
        costs.push(cost(&store, || store.apply_edit(&edit)).await);
        let after = baton_conformance::support::get_workflow(&store, new.id()).await;
        assert!(
            after
                .tasks
                .iter()
                .enumerate()
                .all(|(i, t)| t.position == i as i32)
        );
        assert_eq!(after.tasks[to as usize].id, first);
    }
    assert_eq!(costs[0], costs[1], "{costs:?}");
}

/// Starting a workflow wires every task in one statement: a workflow of the most tasks allowed
/// starts in as many statements as one of two.
#[tokio::test(flavor = "multi_thread")]
async fn a_start_wires_its_tasks_in_constant_statements() {
    let (store, _dir) = fresh().await;
    let owner = UserId::generate();
    let mut costs = Vec::new();
    for n in [2, baton_domain::MAX_TASKS_PER_WORKFLOW] {
        let new = transforms(owner, "wired", n);
        let start = new.start().unwrap();
        costs.push(cost(&store, || store.create_workflow(&new, Some(&start))).await);
        let started = get_workflow(&store, new.id()).await;
        assert_eq!(started.status, WorkflowStatus::Running);
    }
    assert_eq!(costs[0], costs[1], "{costs:?}");
    assert!(
        costs[0] <= 6,
        "workflow, tasks, start, wiring, the root queued, its event: {costs:?}"
    );
}

/// A step of a sequential workflow handing over to the next task (carrying on) sends five
/// statements: the fenced write, the next task's lease, the workflow, the events, the next
/// claim's read. The last step sends four: the fenced write, the workflow (completed with the
/// output task's output), the events (`workflow.completed` last) and the look for other work.
#[tokio::test(flavor = "multi_thread")]
async fn a_sequential_step_costs_five_statements() {
    let (store, _dir) = fresh().await;
    let new = transforms(UserId::generate(), "sequential", 3);
    create_started(&store, &new).await;
    let carry = CarryOn {
        worker: "w".into(),
        lease: LONG_LEASE,
    };
    let mut claim = claim_one(&store, "w").await;
    for n in 0..2 {
        let step = StepCommit::completed(&claim, json!({}), json!({"n": n}), None, Some(&carry));
        assert!(step.release.is_empty() && step.queue.is_empty());
        let mut applied = None;
        let statements = cost(&store, || async {
            applied = Some(store.apply_step(&step).await.unwrap());
        })
        .await;
        assert_eq!(statements, 5, "step {n}");
        let Some(StepApplied::Applied { next: Some(next) }) = applied else {
            panic!("step {n} carries on: {applied:?}")
        };
        assert_eq!(next.task.position, n + 1);
        claim = *next;
    }
    let last = StepCommit::completed(&claim, json!({}), json!({"n": 2}), None, Some(&carry));
    let statements = cost(&store, || store.apply_step(&last)).await;
    assert_eq!(statements, 4, "the last step");
    let done = get_workflow(&store, new.id()).await;
    assert_eq!(done.status, WorkflowStatus::Completed);
    assert_eq!(done.output, Some(json!({"n": 2})));
    assert_eq!(done.current_position, 2);
}
