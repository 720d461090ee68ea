//! Task graphs: tasks that list their dependencies (`depends_on`) run when all of them are
//! done. A store keeps what the start wired (each task's dependents and count of unfinished
//! dependencies, the workflow's unfinished tasks and output task), reports it in claims, and
//! applies the releases, joins, cancellations and completions the domain decided.

use std::time::Duration;

use baton_domain::ports::{TaskQueue, WorkflowStore};
use baton_domain::{
    CarryOn, Claim, Dependent, Effect, Event, Fence, NewTask, StepApplied, StepCommit, TaskDraft,
    TaskError, TaskId, TaskPatch, TaskStatus, UserId, Workflow, WorkflowStatus,
};
use serde_json::{Value, json};

use crate::support::{
    LONG_LEASE, apply, claim, claim_exactly, create, create_started, events_of, get_task,
    get_workflow, needs, snapshot, transform, types, workflow,
};
use crate::{ConformantStore, StoreFactory};

use TaskStatus::{Cancelled, Completed, Failed, Pending, Queued, Running, Skipped};

/// How many fresh workflows the concurrent joins run through: a lost update of a count only
/// shows when the two writes interleave, so give it several chances.
const ROUNDS: usize = 8;

/// The ids of a workflow's tasks, in position order.
fn ids<const N: usize>(new: &baton_domain::NewWorkflow) -> [TaskId; N] {
    let ids: Vec<TaskId> = new.tasks().iter().map(|t| t.id()).collect();
    ids.try_into()
        .unwrap_or_else(|ids: Vec<TaskId>| panic!("{N} tasks, not {}", ids.len()))
}

/// A dependent not yet attempted, as a claim reports it.
fn dependent(id: TaskId, position: i32, waiting_on: i32) -> Dependent {
    Dependent {
        id,
        position,
        attempt: 0,
        waiting_on,
        element_index: None,
    }
}

/// A claim's dependents by position (a store may report them in any order).
fn dependents(claim: &Claim) -> Vec<Dependent> {
    let mut dependents = claim.dependents.clone();
    dependents.sort_by_key(|d| d.position);
    dependents
}

/// The workflow's task statuses, by position.
fn statuses(workflow: &Workflow) -> Vec<TaskStatus> {
    workflow.tasks.iter().map(|t| t.status).collect()
}

fn carry_on(worker: &str) -> CarryOn {
    CarryOn {
        worker: worker.into(),
        lease: LONG_LEASE,
    }
}

/// The step completing `claim` with `output`, without carrying on.
fn completed(claim: &Claim, output: Value) -> StepCommit {
    StepCommit::completed(claim, json!({}), output, None, None)
}

/// Reads a workflow that must have completed with `output`, and checks its events end with
/// `last_step` (the `type` and `data` of the event of the step that finished it) and then the
/// one `workflow.completed` event carrying that output.
pub(crate) async fn assert_completed<S: ConformantStore>(
    store: &S,
    workflow: &Workflow,
    output: Option<Value>,
    last_step: (&str, Value),
) {
    let done = get_workflow(store, workflow.id).await;
    assert_eq!(
        done.status,
        WorkflowStatus::Completed,
        "every task is done: {:?}",
        statuses(&done)
    );
    assert_eq!(done.output, output, "the output task's output");
    assert_eq!(done.error, None);
    assert!(done.finished_at.is_some());
    assert!(
        done.tasks.iter().all(|t| t.status.is_done()),
        "{:?}",
        statuses(&done)
    );
    let events = events_of(store, workflow.id).await;
    let completions = events
        .iter()
        .filter(|e| e.event_type == "workflow.completed")
        .count();
    assert_eq!(
        completions,
        1,
        "one workflow.completed: {:?}",
        types(&events)
    );
    let [.., step, last]: &[Event] = &events[..] else {
        panic!("at least two events: {events:?}")
    };
    assert_eq!(
        (step.event_type.as_str(), &step.data),
        (last_step.0, &last_step.1),
        "the last step's event, then workflow.completed: {:?}",
        types(&events)
    );
    assert_eq!(last.event_type, "workflow.completed");
    assert_eq!(last.data, json!({"output": output}));
    assert!(last.is_terminal());
}

/// a → (b, c) → d: started, only `a` is queued; completing `a` queues `b` and `c`; their
/// completions, applied concurrently, each release `d` (neither sees the other done), and `d`
/// is queued once both are applied — claimable once — and its completion completes the
/// workflow with its output and a last `workflow.completed` event. With a third dependency
/// `x` of the join run after the two branches, `x`'s claim reports the join waiting on exactly
/// one task: each concurrent release counted once.
pub async fn a_diamond_releases_the_join_once<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    for round in 0..ROUNDS {
        diamond(&*store, owner, round).await;
        counted_join(&*store, owner, round).await;
    }
}

/// Completes both claims concurrently, each step applying.
async fn complete_concurrently<S: ConformantStore>(store: &S, left: &Claim, right: &Claim) {
    let (l, r) = (
        completed(left, json!({"branch": left.task.position})),
        completed(right, json!({"branch": right.task.position})),
    );
    let (l_applied, r_applied) = tokio::join!(store.apply_step(&l), store.apply_step(&r));
    for applied in [l_applied, r_applied] {
        assert_eq!(
            applied.expect("a concurrent step applies"),
            StepApplied::Applied { next: None }
        );
    }
}

async fn diamond<S: ConformantStore>(store: &S, owner: UserId, round: usize) {
    let new = workflow(
        owner,
        "diamond",
        vec![
            needs("a", &[]),
            needs("b", &["a"]),
            needs("c", &["a"]),
            needs("d", &["b", "c"]),
        ],
    );
    create_started(store, &new).await;
    let [a, b, c, d] = ids(&new);
    let started = get_workflow(store, new.id()).await;
    assert_eq!(
        statuses(&started),
        [Queued, Pending, Pending, Pending],
        "only the root is queued"
    );

    let first = claim_exactly(store, "w", &[a]).await.remove(0);
    assert_eq!(dependents(&first), [dependent(b, 1, 1), dependent(c, 2, 1)]);
    assert_eq!(first.output_task, Some(d));
    assert_eq!(
        apply(store, &completed(&first, json!({"a": round}))).await,
        None
    );
    let forked = get_workflow(store, new.id()).await;
    assert_eq!(
        statuses(&forked),
        [Completed, Queued, Queued, Pending],
        "both branches are ready"
    );
    assert_eq!(forked.status, WorkflowStatus::Running);
    assert_eq!(
        forked.current_position, 2,
        "the highest position made ready"
    );

    let branches = claim_exactly(store, "w", &[b, c]).await;
    for branch in &branches {
        assert_eq!(
            dependents(branch),
            [dependent(d, 3, 2)],
            "the join waits on both"
        );
    }
    let step = completed(&branches[0], json!({}));
    assert_eq!(
        (&step.queue, &step.release),
        (&vec![], &vec![d]),
        "precondition: each branch releases the join"
    );
    complete_concurrently(store, &branches[0], &branches[1]).await;

    let joined = get_workflow(store, new.id()).await;
    assert_eq!(
        statuses(&joined),
        [Completed, Completed, Completed, Queued],
        "round {round}: the join is queued once both branches are done"
    );
    assert_eq!(
        joined.status,
        WorkflowStatus::Running,
        "the join is unfinished"
    );
    let join = claim_exactly(store, "w", &[d]).await.remove(0);
    assert_eq!(join.task.attempt, 1);
    assert_eq!(join.dependents, []);
    assert_eq!(join.output_task, Some(d));
    assert!(
        claim(store, "w", 2).await.is_empty(),
        "round {round}: the join is claimable once"
    );
    let started = events_of(store, new.id())
        .await
        .iter()
        .filter(|e| e.event_type == "task.started" && e.data["task_id"] == json!(d))
        .count();
    assert_eq!(started, 1, "the join started once");

    let output = json!({"d": round});
    assert_eq!(apply(store, &completed(&join, output.clone())).await, None);
    assert_completed(
        store,
        &joined,
        Some(output.clone()),
        ("task.completed", json!({"task_id": d, "output": output})),
    )
    .await;
}

/// r → (b, c), b → x, (b, c, x) → d: after `b` and `c` complete concurrently, `x` (made ready
/// by `b`) is claimed and reports `d` waiting on one task, itself.
async fn counted_join<S: ConformantStore>(store: &S, owner: UserId, round: usize) {
    let new = workflow(
        owner,
        "counted join",
        vec![
            needs("r", &[]),
            needs("b", &["r"]),
            needs("c", &["r"]),
            needs("x", &["b"]),
            needs("d", &["b", "c", "x"]),
        ],
    );
    create_started(store, &new).await;
    let [r, b, c, x, d] = ids(&new);
    let root = claim_exactly(store, "w", &[r]).await.remove(0);
    apply(store, &completed(&root, json!({}))).await;
    let branches = claim_exactly(store, "w", &[b, c]).await;
    assert_eq!(
        dependents(&branches[0]),
        [dependent(x, 3, 1), dependent(d, 4, 3)]
    );
    assert_eq!(dependents(&branches[1]), [dependent(d, 4, 3)]);
    complete_concurrently(store, &branches[0], &branches[1]).await;

    let workflow = get_workflow(store, new.id()).await;
    assert_eq!(
        statuses(&workflow),
        [Completed, Completed, Completed, Queued, Pending],
        "round {round}: x is ready, the join still waits for it"
    );
    let third = claim_exactly(store, "w", &[x]).await.remove(0);
    assert_eq!(
        dependents(&third),
        [dependent(d, 4, 1)],
        "round {round}: each branch counted once"
    );
    apply(store, &completed(&third, json!({}))).await;
    let join = claim_exactly(store, "w", &[d]).await.remove(0);
    let output = json!({"counted": round});
    apply(store, &completed(&join, output.clone())).await;
    assert_completed(
        store,
        &workflow,
        Some(output.clone()),
        ("task.completed", json!({"task_id": d, "output": output})),
    )
    .await;
}

/// a → b, a → c: nothing needs `b` or `c`, and `c` is the last by position, so the workflow's
/// output is `c`'s. It completes only when both are done — here `b`, last — with `c`'s output.
pub async fn the_workflow_output_is_the_output_task_s<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = workflow(
        UserId::generate(),
        "two leaves",
        vec![needs("a", &[]), needs("b", &["a"]), needs("c", &["a"])],
    );
    create_started(&*store, &new).await;
    let [a, b, c] = ids(&new);
    let first = claim_exactly(&*store, "w", &[a]).await.remove(0);
    assert_eq!(first.output_task, Some(c));
    apply(&*store, &completed(&first, json!({"a": 0}))).await;
    let leaves = claim_exactly(&*store, "w", &[b, c]).await;
    for leaf in &leaves {
        assert_eq!(leaf.dependents, []);
        assert_eq!(leaf.output_task, Some(c));
    }

    apply(&*store, &completed(&leaves[1], json!({"c": "output"}))).await;
    let running = get_workflow(&*store, new.id()).await;
    assert_eq!(
        running.status,
        WorkflowStatus::Running,
        "b is still running"
    );
    assert_eq!(running.output, None);
    assert_eq!(running.finished_at, None);
    assert!(
        !types(&events_of(&*store, new.id()).await).contains(&"workflow.completed"),
        "not completed before every task is done"
    );

    apply(
        &*store,
        &completed(&leaves[0], json!({"b": "not the output"})),
    )
    .await;
    assert_completed(
        &*store,
        &running,
        Some(json!({"c": "output"})),
        (
            "task.completed",
            json!({"task_id": b, "output": {"b": "not the output"}}),
        ),
    )
    .await;
}

/// a → (b, c) → d: completing `a` with a `CarryOn` claims one of `b`, `c` under the decided
/// token (the step's `next`, with its `task.started` event) and queues the other. A branch
/// completed with a `CarryOn` while the join still waits claims nothing; the last branch's
/// release queues the join in the step's own transaction, so its `then_claim` takes it.
pub async fn carrying_on_claims_a_ready_dependent<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = workflow(
        UserId::generate(),
        "carry on",
        vec![
            needs("a", &[]),
            needs("b", &["a"]),
            needs("c", &["a"]),
            needs("d", &["b", "c"]),
        ],
    );
    create_started(&*store, &new).await;
    let [a, b, c, d] = ids(&new);
    let carry = carry_on("carrier");

    let first = claim_exactly(&*store, "w", &[a]).await.remove(0);
    let step = StepCommit::completed(&first, json!({}), json!({"a": 0}), None, Some(&carry));
    let (decided_id, decided) = step
        .claim_task
        .clone()
        .expect("precondition: a ready dependent is claimed");
    let other = if decided_id == b { c } else { b };
    assert!([b, c].contains(&decided_id));
    let next = apply(&*store, &step)
        .await
        .expect("the claimed dependent, as next");
    assert_eq!(next.task.id, decided_id);
    assert_eq!(next.token, decided.token, "under the decided token");
    assert_eq!(next.task.status, Running);
    assert_eq!(next.task.attempt, 1);
    assert_eq!(
        next.task.lease_owner.as_deref(),
        Some(decided.token.as_str())
    );
    assert!(next.task.lease_expires_at.is_some());
    assert_eq!(next.workflow_name, "carry on");
    assert_eq!(dependents(&next), [dependent(d, 3, 2)]);
    assert_eq!(next.output_task, Some(d));
    let stored = get_task(&*store, decided_id).await;
    assert_eq!(stored.status, Running);
    assert_eq!(stored.lease_owner.as_deref(), Some(decided.token.as_str()));
    let queued = get_task(&*store, other).await;
    assert_eq!(queued.status, Queued, "the other ready dependent is queued");
    assert_eq!(queued.attempt, 0);
    let workflow = get_workflow(&*store, new.id()).await;
    assert_eq!(statuses(&workflow)[3], Pending);
    assert_eq!(workflow.current_position, 2);
    let started_event = events_of(&*store, new.id())
        .await
        .into_iter()
        .rfind(|e| e.event_type == "task.started")
        .expect("a task.started event");
    assert_eq!(
        started_event.data,
        json!({"task_id": decided_id, "attempt": 1, "worker": "carrier"})
    );
    assert!(store.heartbeat(&next, LONG_LEASE).await.unwrap());

    let sibling = claim_exactly(&*store, "w", &[other]).await.remove(0);
    let step = StepCommit::completed(&next, json!({}), json!({"branch": 1}), None, Some(&carry));
    assert_eq!(
        apply(&*store, &step).await,
        None,
        "the join still waits and nothing else is queued"
    );
    assert_eq!(get_task(&*store, d).await.status, Pending);

    let step = StepCommit::completed(
        &sibling,
        json!({}),
        json!({"branch": 2}),
        None,
        Some(&carry),
    );
    let then = step
        .then_claim
        .clone()
        .expect("precondition: carrying on with any queued task");
    let join = apply(&*store, &step)
        .await
        .expect("then_claim takes the join the step released");
    assert_eq!(join.task.id, d);
    assert_eq!(join.token, then.token);
    assert_eq!(join.task.status, Running);
    assert_eq!(join.task.attempt, 1);
    assert_eq!(join.output_task, Some(d));

    let output = json!({"joined": true});
    let step = StepCommit::completed(&join, json!({}), output.clone(), None, Some(&carry));
    assert_eq!(apply(&*store, &step).await, None);
    assert_completed(
        &*store,
        &workflow,
        Some(output.clone()),
        ("task.completed", json!({"task_id": d, "output": output})),
    )
    .await;
}

/// a → (b, c, e), (b, c) → d, with `b` and `c` running and `e` queued for a retry an hour
/// away: `b` failing for good fails the workflow and cancels `c` and `e` (leases cleared, so
/// `c`'s heartbeat and late completion are refused and change nothing); `d` stays pending. The
/// decided retry requeues `b`, `c` and `e` but not `a`, and the run then finishes.
pub async fn failing_for_good_cancels_running_siblings<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = workflow(
        UserId::generate(),
        "siblings",
        vec![
            needs("a", &[]),
            needs("b", &["a"]),
            needs("c", &["a"]),
            needs("e", &["a"]),
            needs("d", &["b", "c"]),
        ],
    );
    create_started(&*store, &new).await;
    let [a, b, c, e, d] = ids(&new);
    let first = claim_exactly(&*store, "w", &[a]).await.remove(0);
    apply(&*store, &completed(&first, json!({"a": 0}))).await;
    let claims = claim_exactly(&*store, "w", &[b, c, e]).await;
    let [b_claim, c_claim, e_claim] = &claims[..] else {
        panic!("three claims")
    };
    let later = StepCommit::failed(
        e_claim,
        None,
        &TaskError::retryable("http", "503 Service Unavailable"),
        Some(Duration::from_secs(3_600)),
        Fence::Held,
    );
    apply(&*store, &later).await;
    assert_eq!(get_task(&*store, e).await.status, Queued);

    let error = TaskError::permanent("http", "404 Not Found");
    let step = StepCommit::failed(b_claim, None, &error, None, Fence::Held);
    assert_eq!(apply(&*store, &step).await, None);
    let failed = get_workflow(&*store, new.id()).await;
    assert_eq!(failed.status, WorkflowStatus::Failed);
    assert!(failed.finished_at.is_some());
    assert_eq!(
        failed.error,
        Some(json!({
            "task_id": b,
            "position": 1,
            "key": "b",
            "kind": "http",
            "message": "404 Not Found",
        }))
    );
    assert_eq!(
        statuses(&failed),
        [Completed, Failed, Cancelled, Cancelled, Pending],
        "the running and queued siblings are cancelled, the pending join is not"
    );
    for sibling in [&failed.tasks[2], &failed.tasks[3]] {
        assert_eq!(sibling.lease_owner, None, "the lease is cleared");
        assert_eq!(sibling.lease_expires_at, None, "the lease is cleared");
        assert!(sibling.finished_at.is_some());
    }
    assert_eq!(failed.tasks[1].error, Some(error.to_json(1)));
    assert_eq!(failed.tasks[4].attempt, 0);
    let events = events_of(&*store, new.id()).await;
    assert_eq!(
        types(&events[events.len() - 2..]),
        ["task.failed", "workflow.failed"]
    );

    let before = snapshot(&*store, new.id()).await;
    assert!(
        !store.heartbeat(c_claim, LONG_LEASE).await.unwrap(),
        "the cancelled sibling's lease is gone"
    );
    let late = completed(c_claim, json!({"late": true}));
    assert_eq!(
        store.apply_step(&late).await.unwrap(),
        StepApplied::Lost,
        "a cancelled sibling's late result is refused"
    );
    assert_eq!(snapshot(&*store, new.id()).await, before, "nothing changed");

    let retry = failed.retry().expect("a failed workflow can be retried");
    assert_eq!(
        retry.effect,
        Effect::Retry {
            requeue: vec![b, c, e]
        },
        "precondition: the failed and cancelled tasks are requeued"
    );
    store.apply_transition(&retry).await.unwrap();
    let resumed = get_workflow(&*store, new.id()).await;
    assert_eq!(resumed.status, WorkflowStatus::Running);
    assert_eq!(resumed.error, None);
    assert_eq!(resumed.finished_at, None);
    assert_eq!(
        statuses(&resumed),
        [Completed, Queued, Queued, Queued, Pending],
        "completed work is kept"
    );
    assert_eq!(resumed.tasks[0].output, Some(json!({"a": 0})));
    for requeued in &resumed.tasks[1..4] {
        assert_eq!(requeued.attempt, 0, "a fresh attempt budget");
    }

    let again = claim_exactly(&*store, "w", &[b, c, e]).await;
    for claim in &again[..2] {
        assert_eq!(claim.task.attempt, 1);
        assert_eq!(
            dependents(claim),
            [dependent(d, 4, 2)],
            "neither the failure nor the cancellation released the join"
        );
    }
    for claim in &again {
        apply(
            &*store,
            &completed(claim, json!({"again": claim.task.position})),
        )
        .await;
    }
    let join = claim_exactly(&*store, "w", &[d]).await.remove(0);
    let output = json!({"d": "after the retry"});
    apply(&*store, &completed(&join, output.clone())).await;
    assert_completed(
        &*store,
        &resumed,
        Some(output.clone()),
        ("task.completed", json!({"task_id": d, "output": output})),
    )
    .await;
}

/// s, x roots; k needs s; j (the output task) needs s and x. Skipping `s` makes it `skipped`
/// with a null output, lease cleared, a `task.skipped` event with the reason, and releases its
/// dependents as completing it would (`k` queued, `j` counting one dependency fewer). Skipping
/// `j`, the last task left, completes the workflow with a null output.
pub async fn a_skipped_task_is_done_with_a_null_output<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let when = "{{ input.go }}";
    let new = workflow(
        UserId::generate(),
        "skips",
        vec![
            TaskDraft {
                when: Some(when.into()),
                ..needs("s", &[])
            },
            needs("x", &[]),
            needs("k", &["s"]),
            needs("j", &["s", "x"]),
        ],
    );
    create_started(&*store, &new).await;
    let [s, x, k, j] = ids(&new);
    let roots = claim_exactly(&*store, "w", &[s, x]).await;
    let reason = "`when` rendered false";
    let step = StepCommit::skipped(&roots[0], None, reason.into(), None);
    assert_eq!(
        (&step.queue, &step.release),
        (&vec![k], &vec![j]),
        "precondition: k is made ready, j released"
    );
    assert_eq!(apply(&*store, &step).await, None);

    let skipped = get_task(&*store, s).await;
    assert_eq!(skipped.status, Skipped);
    assert_eq!(skipped.output, None, "a skipped task's output is null");
    assert_eq!(skipped.error, None);
    assert_eq!(skipped.resolved_input, None);
    assert_eq!(skipped.lease_owner, None);
    assert_eq!(skipped.lease_expires_at, None);
    assert!(skipped.finished_at.is_some());
    assert_eq!(skipped.when.as_deref(), Some(when));
    let workflow = get_workflow(&*store, new.id()).await;
    assert_eq!(workflow.status, WorkflowStatus::Running);
    assert_eq!(statuses(&workflow), [Skipped, Running, Queued, Pending]);
    assert_eq!(workflow.current_position, 2);
    let last = events_of(&*store, new.id()).await.pop().unwrap();
    assert_eq!(last.event_type, "task.skipped");
    assert_eq!(last.data, json!({"task_id": s, "reason": reason}));
    let before = store.steps_before(new.id(), 2).await.unwrap();
    assert_eq!(
        before
            .iter()
            .map(|s| (s.position, s.key.as_deref(), s.status, s.output.clone()))
            .collect::<Vec<_>>(),
        [(0, Some("s"), Skipped, None), (1, Some("x"), Running, None)],
        "templates see the skipped task"
    );

    apply(&*store, &completed(&roots[1], json!({"x": 1}))).await;
    assert_eq!(
        get_task(&*store, j).await.status,
        Queued,
        "the skip counted as one of j's dependencies done"
    );
    let rest = claim_exactly(&*store, "w", &[k, j]).await;
    assert_eq!(rest[1].output_task, Some(j));
    apply(&*store, &completed(&rest[0], json!({"k": 2}))).await;
    let step = StepCommit::skipped(
        &rest[1],
        Some(json!({"checked": false})),
        "every dependency was skipped".into(),
        None,
    );
    assert_eq!(apply(&*store, &step).await, None);
    let last_skipped = get_task(&*store, j).await;
    assert_eq!(last_skipped.status, Skipped);
    assert_eq!(last_skipped.output, None);
    assert_eq!(last_skipped.resolved_input, Some(json!({"checked": false})));
    assert_completed(
        &*store,
        &workflow,
        None,
        (
            "task.skipped",
            json!({"task_id": j, "reason": "every dependency was skipped"}),
        ),
    )
    .await;
}

/// a, b roots (`a` listing no dependency, `b` listing none at all); c needs a; d needs a and
/// b; e needs c and d. Stored pending and read back, each task keeps its `depends_on` and
/// `when`; the start decided from that read queues the roots, and every claim reports each of
/// its dependents with its position, attempts and count of unfinished dependencies, and `e` as
/// the output task.
pub async fn start_wires_every_task<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let when = "{{ steps.c.output.ok }}";
    let new = workflow(
        UserId::generate(),
        "wired",
        vec![
            needs("a", &[]),
            transform(Some("b")),
            needs("c", &["a"]),
            needs("d", &["a", "b"]),
            TaskDraft {
                when: Some(when.into()),
                ..needs("e", &["c", "d"])
            },
        ],
    );
    create(&*store, &new).await;
    let [a, b, c, d, e] = ids(&new);
    let pending = get_workflow(&*store, new.id()).await;
    assert_eq!(
        written(&pending),
        [
            (Some(vec![]), None),
            (None, None),
            (Some(vec!["a"]), None),
            (Some(vec!["a", "b"]), None),
            (Some(vec!["c", "d"]), Some(when)),
        ],
        "depends_on and when read back as written (an empty list is not a missing one)"
    );
    assert_eq!(get_task(&*store, e).await.when.as_deref(), Some(when));

    store
        .apply_transition(&pending.start().unwrap())
        .await
        .unwrap();
    let running = get_workflow(&*store, new.id()).await;
    assert_eq!(
        statuses(&running),
        [Queued, Queued, Pending, Pending, Pending],
        "the roots are queued"
    );
    assert_eq!(running.current_position, 0);

    let roots = claim_exactly(&*store, "w", &[a, b]).await;
    assert_eq!(
        dependents(&roots[0]),
        [dependent(c, 2, 1), dependent(d, 3, 2)]
    );
    assert_eq!(dependents(&roots[1]), [dependent(d, 3, 2)]);
    for root in &roots {
        assert_eq!(root.output_task, Some(e), "the last task nothing needs");
    }
    apply(&*store, &completed(&roots[0], json!({"a": 0}))).await;
    assert_eq!(
        statuses(&get_workflow(&*store, new.id()).await),
        [Completed, Running, Queued, Pending, Pending],
        "d still waits for b"
    );
    apply(&*store, &completed(&roots[1], json!({"b": 1}))).await;

    let middle = claim_exactly(&*store, "w", &[c, d]).await;
    for claim in &middle {
        assert_eq!(dependents(claim), [dependent(e, 4, 2)]);
        assert_eq!(claim.output_task, Some(e));
    }
    apply(&*store, &completed(&middle[0], json!({"c": 2}))).await;
    assert_eq!(get_task(&*store, e).await.status, Pending);
    apply(&*store, &completed(&middle[1], json!({"d": 3}))).await;
    let last = claim_exactly(&*store, "w", &[e]).await.remove(0);
    assert_eq!(last.dependents, []);
    assert_eq!(last.output_task, Some(e));
    let output = json!({"e": 4});
    apply(&*store, &completed(&last, output.clone())).await;
    assert_completed(
        &*store,
        &running,
        Some(output.clone()),
        ("task.completed", json!({"task_id": e, "output": output})),
    )
    .await;
}

/// Edits store `depends_on` and `when`: added with a task, set, kept and removed by patches;
/// the start decided after them wires the edited graph.
pub async fn edits_keep_depends_on_and_when<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = workflow(
        UserId::generate(),
        "edited graph",
        vec![transform(Some("a")), transform(Some("b"))],
    );
    create(&*store, &new).await;
    let [a, b] = ids(&new);
    let read = get_workflow(&*store, new.id()).await;
    let added = NewTask::new(TaskDraft {
        when: Some("{{ steps.a.output.ok }}".into()),
        ..needs("c", &["a"])
    })
    .unwrap();
    let c = added.id();
    let read = edited(&*store, read.add_task(added, None).unwrap()).await;
    assert_eq!(
        written(&read),
        [
            (None, None),
            (None, None),
            (Some(vec!["a"]), Some("{{ steps.a.output.ok }}")),
        ],
        "added with the task"
    );

    let set = TaskPatch {
        depends_on: Some(Some(vec!["a".into()])),
        when: Some(Some("{{ steps.a.output.go }}".into())),
        ..TaskPatch::default()
    };
    let read = edited(&*store, read.update_task(b, &set, None).unwrap()).await;
    let retitle = TaskPatch {
        title: Some("renamed".into()),
        ..TaskPatch::default()
    };
    let read = edited(&*store, read.update_task(c, &retitle, None).unwrap()).await;
    assert_eq!(
        written(&read),
        [
            (None, None),
            (Some(vec!["a"]), Some("{{ steps.a.output.go }}")),
            (Some(vec!["a"]), Some("{{ steps.a.output.ok }}")),
        ],
        "set by a patch, kept by a patch of another field"
    );
    let remove = TaskPatch {
        when: Some(None),
        ..TaskPatch::default()
    };
    let read = edited(&*store, read.update_task(c, &remove, None).unwrap()).await;
    assert_eq!(
        written(&read)[2],
        (Some(vec!["a"]), None),
        "removed by a patch"
    );
    assert_eq!(get_task(&*store, c).await.when, None);

    store
        .apply_transition(&read.start().unwrap())
        .await
        .unwrap();
    let first = claim_exactly(&*store, "w", &[a]).await.remove(0);
    assert_eq!(dependents(&first), [dependent(b, 1, 1), dependent(c, 2, 1)]);
    assert_eq!(first.output_task, Some(c));
}

/// Applies an edit that must apply, and reads the workflow after it.
async fn edited<S: ConformantStore>(store: &S, edit: baton_domain::Edit) -> Workflow {
    store.apply_edit(&edit).await.expect("apply the edit");
    get_workflow(store, edit.workflow_id).await
}

/// Each task's `depends_on` and `when`, by position.
fn written(workflow: &Workflow) -> Vec<(Option<Vec<&str>>, Option<&str>)> {
    workflow
        .tasks
        .iter()
        .map(|t| {
            (
                t.depends_on
                    .as_ref()
                    .map(|l| l.iter().map(String::as_str).collect()),
                t.when.as_deref(),
            )
        })
        .collect()
}

/// A start wires exactly the tasks it was decided from: with a task added, or one deleted and
/// another added since (as many tasks, one of them another), it is `Stale` and the workflow
/// stays as it was; decided again, it starts.
pub async fn a_start_decided_before_an_edit_is_stale<F: StoreFactory>(factory: &F) {
    use baton_domain::ports::StoreError;

    let store = factory.store().await;
    let new = crate::support::transforms(UserId::generate(), "edited", 2);
    create(&*store, &new).await;
    let read = get_workflow(&*store, new.id()).await;
    let start = read.start().expect("a pending workflow starts");

    let expect_stale = |result: Result<(), StoreError>, what: &str| match result {
        Err(StoreError::Stale("workflow")) => {}
        other => panic!("{what}: expected Stale(\"workflow\"), got {other:?}"),
    };
    let task = NewTask::new(transform(Some("late"))).expect("a task");
    store
        .apply_edit(&read.add_task(task, None).expect("an edit"))
        .await
        .expect("the edit applies");
    let added = get_workflow(&*store, new.id()).await;
    expect_stale(store.apply_transition(&start).await, "a task was added");
    assert_eq!(
        get_workflow(&*store, new.id()).await,
        added,
        "nothing changed"
    );

    let edited = get_workflow(&*store, new.id()).await;
    store
        .apply_edit(
            &edited
                .delete_task(edited.tasks[0].id, None)
                .expect("an edit"),
        )
        .await
        .expect("the delete applies");
    let edited = get_workflow(&*store, new.id()).await;
    store
        .apply_edit(
            &edited
                .delete_task(edited.tasks[0].id, None)
                .expect("an edit"),
        )
        .await
        .expect("the delete applies");
    let replaced = get_workflow(&*store, new.id()).await;
    assert_eq!(replaced.tasks.len(), 1, "precondition");
    let edited = get_workflow(&*store, new.id()).await;
    let task = NewTask::new(transform(Some("other"))).expect("a task");
    store
        .apply_edit(&edited.add_task(task, None).expect("an edit"))
        .await
        .expect("the edit applies");
    let replaced = get_workflow(&*store, new.id()).await;
    assert_eq!(
        replaced.tasks.len(),
        2,
        "as many tasks, one of them another"
    );
    expect_stale(store.apply_transition(&start).await, "a task was replaced");
    assert_eq!(
        get_workflow(&*store, new.id()).await,
        replaced,
        "nothing changed"
    );

    store
        .apply_transition(&replaced.start().expect("decided again"))
        .await
        .expect("the start decided from the tasks as they are applies");
    assert_eq!(
        get_workflow(&*store, new.id()).await.status,
        WorkflowStatus::Running
    );
}
