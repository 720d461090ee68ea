//! Lists cost a constant number of statements whatever they hold; big workflows go in and move
//! in a constant number too, and a sequential step costs what it did before tasks formed a graph.
//! A fan-out stores its elements in a constant number of statements whatever their number, and
//! an element's step costs what a task's does.

use baton_conformance::support::{
    LONG_LEASE, apply, claim_exactly, claim_one, create, create_started, get_workflow, page,
    store_task, transform, transforms, workflow,
};
use baton_domain::ports::{
    DocumentStore, PageRequest, Scope, TaskFilter, TaskQueue, WorkflowFilter, WorkflowStore,
};
use baton_domain::{
    CarryOn, Claim, NewDocument, StepApplied, StepCommit, TaskDraft, TaskPatch, TaskStatus, UserId,
    WorkflowStatus,
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
        cost(store, || {
            store.list_documents(scope, Default::default(), page(100, None))
        })
        .await,
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

/// A started workflow of one task fanning out (`for_each`), claimed.
async fn fanning_out(store: &SqliteStore, max_parallel: Option<u32>) -> Claim {
    let new = workflow(
        UserId::generate(),
        "fan-out",
        vec![TaskDraft {
            for_each: Some("{{ input.items }}".into()),
            max_parallel,
            ..transform(Some("p"))
        }],
    );
    create_started(store, &new).await;
    claim_exactly(store, "w", &[new.tasks()[0].id()])
        .await
        .remove(0)
}

fn items(n: usize) -> Vec<serde_json::Value> {
    (0..n).map(|i| json!({"n": i})).collect()
}

/// An expansion inserts its elements in one statement: to 1,000 elements (all queued, or 10 at
/// a time) it costs what it costs to 2 — the fenced write, the elements, the events; with a
/// `CarryOn`, then the claim of one of them (its pick, lease, read and `task.started` event).
#[tokio::test(flavor = "multi_thread")]
async fn an_expansion_costs_a_constant_number_of_statements() {
    let (store, _dir) = fresh().await;
    let carry = CarryOn {
        worker: "w".into(),
        lease: LONG_LEASE,
    };
    for carry_on in [None, Some(&carry)] {
        for max_parallel in [None, Some(10)] {
            let mut costs = Vec::new();
            for n in [2, 1_000] {
                let parent = fanning_out(&store, max_parallel).await;
                let step = StepCommit::expanded(&parent, items(n), max_parallel, carry_on);
                let mut applied = None;
                costs.push(
                    cost(&store, || async {
                        applied = Some(store.apply_step(&step).await.unwrap());
                    })
                    .await,
                );
                let Some(StepApplied::Applied { next }) = applied else {
                    panic!("the expansion applies: {applied:?}")
                };
                assert_eq!(next.is_some(), carry_on.is_some(), "an element claimed");
                let results = store.element_results(parent.task.id).await.unwrap();
                assert_eq!(results.len(), n);
                let queued = results
                    .iter()
                    .filter(|r| r.status == TaskStatus::Queued)
                    .count();
                let running = usize::from(carry_on.is_some());
                assert_eq!(
                    queued + running,
                    max_parallel.map_or(n, |m| n.min(m as usize)),
                    "{n} elements, {max_parallel:?} at a time"
                );
                // Take the queued elements out of the way of the next round's claims.
                let _ = baton_conformance::support::claim(&store, "other", queued).await;
            }
            assert_eq!(
                costs[0], costs[1],
                "{carry_on:?} {max_parallel:?}: {costs:?}"
            );
            let expected = if carry_on.is_some() { 7 } else { 3 };
            assert_eq!(costs[0], expected, "{carry_on:?} {max_parallel:?}");
        }
    }
}

/// Elements one at a time (`max_parallel: 1`), carrying on: each element's step hands over to
/// the next as a sequential task's does — five statements (the fenced write, the parent's
/// release, the next element's lease, the events, its claim's read); the last one's claims the
/// parent instead of releasing it (four), and the parent's join completes the workflow (four,
/// as the last step of a sequential workflow).
#[tokio::test(flavor = "multi_thread")]
async fn an_element_step_costs_what_a_task_step_costs() {
    let (store, _dir) = fresh().await;
    let carry = CarryOn {
        worker: "w".into(),
        lease: LONG_LEASE,
    };
    let parent = fanning_out(&store, Some(1)).await;
    let workflow_id = parent.task.workflow_id;
    let step = StepCommit::expanded(&parent, items(4), Some(1), Some(&carry));
    let mut claim = apply(&store, &step).await.expect("element 0 claimed");
    for i in 0..4 {
        assert_eq!(claim.task.element_index, Some(i));
        let step = StepCommit::completed(&claim, json!({}), json!({"i": i}), None, Some(&carry));
        let mut applied = None;
        let statements = cost(&store, || async {
            applied = Some(store.apply_step(&step).await.unwrap());
        })
        .await;
        assert_eq!(statements, if i < 3 { 5 } else { 4 }, "element {i}");
        let Some(StepApplied::Applied { next: Some(next) }) = applied else {
            panic!("element {i} carries on: {applied:?}")
        };
        claim = *next;
    }
    assert_eq!(claim.task.id, parent.task.id, "the parent, to join");
    let outputs: Vec<_> = (0..4).map(|i| json!({"i": i})).collect();
    let join = StepCommit::completed(&claim, json!({}), json!(outputs), None, Some(&carry));
    assert_eq!(
        cost(&store, || store.apply_step(&join)).await,
        4,
        "the join"
    );
    let done = get_workflow(&store, workflow_id).await;
    assert_eq!(done.status, WorkflowStatus::Completed);
    assert_eq!(done.output, Some(json!(outputs)));
}

/// A started workflow of one `workflow` task whose child runs `n` transforms in sequence, that
/// task claimed.
async fn parent_of(store: &SqliteStore, n: usize) -> Claim {
    let tasks: Vec<_> = (0..n)
        .map(|_| json!({"type": "transform", "input": {"jq": "."}}))
        .collect();
    parent_of_tasks(store, tasks).await
}

/// A started workflow of one `workflow` task whose child runs `tasks`, that task claimed.
async fn parent_of_tasks(store: &SqliteStore, tasks: Vec<serde_json::Value>) -> Claim {
    let new = workflow(
        UserId::generate(),
        "parent",
        vec![TaskDraft {
            key: Some("p".into()),
            task_type: "workflow".into(),
            input: Some(json!({"name": "kid", "input": {}, "tasks": tasks})),
            ..TaskDraft::default()
        }],
    );
    create_started(store, &new).await;
    claim_exactly(store, "w", &[new.tasks()[0].id()])
        .await
        .remove(0)
}

fn child_started(claim: &Claim) -> (baton_domain::NewWorkflow, StepCommit) {
    let child = baton_domain::NewWorkflow::child(claim, Some("kid".into()), json!({}))
        .unwrap_or_else(|err| panic!("the child: {err:?}"));
    let step = StepCommit::child_started(claim, claim.task.input.clone(), child.clone())
        .unwrap_or_else(|err| panic!("its start: {err}"));
    (child, step)
}

/// Starting a child costs the same whatever its size — the fenced write, the child's row, its
/// tasks, its start, wiring, roots queued and `workflow.started`, then the step's events: eight.
/// The child's steps cost what any task's do (five, carrying on), but for its last, which
/// releases the parent's task too: the fenced write, the workflow (completed), the release,
/// the events, then the carried-on claim finding the parent's task (its pick, lease, read and
/// `task.started`) — eight, one more than a last step finding other work. The parent's join is
/// an ordinary last step (three, not carrying on).
#[tokio::test(flavor = "multi_thread")]
async fn a_child_costs_what_a_workflow_costs_and_one_release() {
    let (store, _dir) = fresh().await;
    let carry = CarryOn {
        worker: "w".into(),
        lease: LONG_LEASE,
    };
    let mut costs = Vec::new();
    for n in [1, 3, 100] {
        let parent = parent_of(&store, n).await;
        let (child, step) = child_started(&parent);
        costs.push(cost(&store, || store.apply_step(&step)).await);
        let mut claim = claim_exactly(&store, "w", &[child.tasks()[0].id()])
            .await
            .remove(0);
        assert_eq!(claim.parent_task, Some(parent.task.id));
        for i in 0..n {
            let step =
                StepCommit::completed(&claim, json!({}), json!({"i": i}), None, Some(&carry));
            let mut applied = None;
            let statements = cost(&store, || async {
                applied = Some(store.apply_step(&step).await.unwrap());
            })
            .await;
            let last = i + 1 == n;
            assert_eq!(
                statements,
                if last { 8 } else { 5 },
                "child step {i} of {n}"
            );
            let Some(StepApplied::Applied { next: Some(next) }) = applied else {
                panic!("child step {i} carries on: {applied:?}")
            };
            claim = *next;
        }
        assert_eq!(claim.task.id, parent.task.id, "the parent's task, to join");
        let outcome = store.child_outcome(child.id()).await.unwrap();
        assert_eq!(outcome.status, WorkflowStatus::Completed);
        let join = StepCommit::completed(&claim, json!({}), json!(outcome.output), None, None);
        assert_eq!(
            cost(&store, || store.apply_step(&join)).await,
            3,
            "the join"
        );
        let done = get_workflow(&store, parent.task.workflow_id).await;
        assert_eq!(done.status, WorkflowStatus::Completed);
    }
    assert!(costs.iter().all(|&c| c == 8), "{costs:?}");
}

/// A cancel walks the descendants in one statement whatever their number: the workflow, its
/// descendants, every unfinished task of them all, the events (one `workflow.cancelled` each) —
/// four, for a workflow without children as for one with a child and a grandchild; a child's
/// cancel releases its parent's task too (five).
#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_costs_a_constant_number_of_statements() {
    let (store, _dir) = fresh().await;
    let alone = transforms(UserId::generate(), "alone", 3);
    create_started(&store, &alone).await;
    let read = get_workflow(&store, alone.id()).await;
    let cancel = read.cancel().unwrap();
    assert_eq!(cost(&store, || store.apply_transition(&cancel)).await, 4);

    // A parent, its child (itself a parent) and its grandchild.
    let nested = json!({"type": "workflow", "input": {"tasks": [
        {"type": "transform", "input": {"jq": "."}}
    ]}});
    let parent = parent_of_tasks(&store, vec![nested]).await;
    let (child, step) = child_started(&parent);
    apply(&store, &step).await;
    let middle = claim_exactly(&store, "w", &[child.tasks()[0].id()])
        .await
        .remove(0);
    let (grandchild, step) = child_started(&middle);
    apply(&store, &step).await;
    let kid = get_workflow(&store, child.id()).await;
    let cancel = kid.cancel().unwrap();
    assert_eq!(
        cost(&store, || store.apply_transition(&cancel)).await,
        5,
        "the child, its grandchild, their tasks, the events, the parent's task released"
    );
    assert_eq!(
        get_workflow(&store, grandchild.id()).await.status,
        WorkflowStatus::Cancelled
    );
    let top = get_workflow(&store, parent.task.workflow_id).await;
    let cancel = top.cancel().unwrap();
    assert_eq!(cost(&store, || store.apply_transition(&cancel)).await, 4);
}
