//! Child workflows: a task of type `workflow` starts a workflow of its own (an ordinary
//! workflow with a parent), stored and started in the step's transaction, and waits for it,
//! pending. When the child completes, fails or is cancelled, the waiting task is queued again
//! to join it (through `child_outcome`); cancelling a workflow cancels its descendants.

use std::time::Duration;

use baton_domain::ports::{PageRequest, Scope, TaskQueue, WorkflowFilter, WorkflowStore};
use baton_domain::{
    ChildOutcome, Claim, Effect, Event, Fence, NewWorkflow, StepApplied, StepCommit, Task,
    TaskDraft, TaskError, TaskId, TaskOutcome, TaskStatus, TaskType, UserId, Workflow, WorkflowId,
    WorkflowOutcome, WorkflowStatus,
};
use serde_json::{Value, json};

use crate::graph::assert_completed;
use crate::support::{
    DEADLINE, LONG_LEASE, apply, assert_not_found, claim, claim_exactly, create_started, events_of,
    get_task, get_workflow, types, workflow,
};
use crate::{ConformantStore, StoreFactory};

use TaskStatus::{Cancelled, Completed, Pending, Queued, Running};

/// How many fresh workflows the concurrent contract runs through: a race only shows when the
/// writes interleave, so give it several chances.
const ROUNDS: usize = 8;

/// What the child is started with (`input.input` of the `workflow` task).
fn child_input() -> Value {
    json!({"n": 21})
}

/// A child's transform task, as written inside a `workflow` task's input.
fn child_transform(jq: &str) -> Value {
    json!({"type": "transform", "input": {"jq": jq}})
}

/// A `workflow` task keyed `key` starting a child named `name` of `tasks`.
fn workflow_task(key: &str, name: &str, tasks: Vec<Value>) -> TaskDraft {
    TaskDraft {
        key: Some(key.into()),
        title: Some(format!("run {name}")),
        task_type: "workflow".into(),
        input: Some(json!({"name": name, "input": child_input(), "tasks": tasks})),
        ..TaskDraft::default()
    }
}

/// The ids of a workflow's tasks, in position order.
fn ids<const N: usize>(new: &NewWorkflow) -> [TaskId; N] {
    let ids: Vec<TaskId> = new.tasks().iter().map(|t| t.id()).collect();
    ids.try_into()
        .unwrap_or_else(|ids: Vec<TaskId>| panic!("{N} tasks, not {}", ids.len()))
}

/// Starts a workflow of one `workflow` task (child `kid` of `tasks`) and claims that task.
async fn parent_of<S: ConformantStore>(
    store: &S,
    owner: UserId,
    tasks: Vec<Value>,
) -> (NewWorkflow, Claim) {
    let new = workflow(owner, "parent", vec![workflow_task("p", "kid", tasks)]);
    create_started(store, &new).await;
    let [p] = ids(&new);
    let claimed = claim_exactly(store, "w", &[p]).await.remove(0);
    (new, claimed)
}

/// The child the claimed `workflow` task starts (named and started with its input's `name`
/// and `input`, as the engine renders them), and the decided step starting it.
fn child_step(claim: &Claim) -> (NewWorkflow, StepCommit) {
    let input = &claim.task.input;
    let name = input["name"].as_str().map(str::to_owned);
    let child = NewWorkflow::child(claim, name, input["input"].clone())
        .expect("the domain makes the child workflow");
    let step = StepCommit::child_started(claim, input.clone(), child.clone())
        .expect("the domain starts the child");
    (child, step)
}

/// Applies the start of the claimed task's child; returns the child.
async fn start_child<S: ConformantStore>(store: &S, claim: &Claim) -> NewWorkflow {
    let (child, step) = child_step(claim);
    assert_eq!(
        apply(store, &step).await,
        None,
        "starting a child claims nothing"
    );
    child
}

fn completed(claim: &Claim, output: Value) -> StepCommit {
    StepCommit::completed(claim, json!({}), output, None, None)
}

async fn child_outcome<S: ConformantStore>(store: &S, child: WorkflowId) -> ChildOutcome {
    store
        .child_outcome(child)
        .await
        .unwrap_or_else(|err| panic!("the outcome of child {child}: {err}"))
}

/// Each task's id and status, by position.
fn statuses(workflow: &Workflow) -> Vec<(TaskId, TaskStatus)> {
    workflow.tasks.iter().map(|t| (t.id, t.status)).collect()
}

/// The events of one type.
fn of_type<'a>(events: &'a [Event], event_type: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.event_type == event_type)
        .collect()
}

/// A task the parent waits on: pending for its child, lease cleared, no output, unfinished.
fn assert_waiting(task: &Task, child: WorkflowId, what: &str) {
    assert_eq!(task.status, Pending, "{what}: the task waits for its child");
    assert_eq!(task.child_workflow_id, Some(child), "{what}: its child");
    assert_eq!(task.lease_owner, None, "{what}: its lease is cleared");
    assert_eq!(task.lease_expires_at, None, "{what}");
    assert_eq!(task.output, None, "{what}");
    assert_eq!(task.finished_at, None, "{what}");
}

/// The parent's task, released by its child, is claimable exactly once; returns its claim.
async fn rejoin<S: ConformantStore>(store: &S, p: TaskId, child: WorkflowId, what: &str) -> Claim {
    let task = get_task(store, p).await;
    assert_eq!(task.status, Queued, "{what}: the parent's task is queued");
    assert_eq!(
        task.child_workflow_id,
        Some(child),
        "{what}: it still knows its child"
    );
    let joined = claim_exactly(store, "w", &[p]).await.remove(0);
    assert!(
        claim(store, "w", 2).await.is_empty(),
        "{what}: the parent's task is claimable once"
    );
    assert_eq!(joined.task.status, Running);
    assert_eq!(joined.task.child_workflow_id, Some(child), "{what}");
    assert_eq!(joined.parent_task, None, "{what}: the parent has no parent");
    joined
}

/// A cancelled workflow: its tasks cancelled, leases cleared, finished, and its last event
/// its one `workflow.cancelled`.
async fn assert_cancelled<S: ConformantStore>(store: &S, id: WorkflowId, what: &str) {
    let read = get_workflow(store, id).await;
    assert_eq!(
        read.status,
        WorkflowStatus::Cancelled,
        "{what} is cancelled"
    );
    assert!(read.finished_at.is_some(), "{what} is finished");
    for task in &read.tasks {
        assert_eq!(
            task.status, Cancelled,
            "{what}: task {} is cancelled",
            task.position
        );
        assert_eq!(task.lease_owner, None, "{what}: task {}", task.position);
        assert_eq!(
            task.lease_expires_at, None,
            "{what}: task {}",
            task.position
        );
    }
    let events = events_of(store, id).await;
    assert_eq!(
        of_type(&events, "workflow.cancelled").len(),
        1,
        "{what}: one workflow.cancelled: {:?}",
        types(&events)
    );
    assert_eq!(
        events.last().map(|e| e.event_type.as_str()),
        Some("workflow.cancelled"),
        "{what}: workflow.cancelled comes last: {:?}",
        types(&events)
    );
}

/// A parent whose `workflow` task p starts a child of two tasks. A step starting the child
/// under a token that does not hold the lease is lost and stores no child. The decided start
/// makes p pending with its child, its lease cleared and its resolved input kept; the child is
/// stored with its parent and parent task, owned by the parent's owner, named and started with
/// the task's `name` and `input`, running, its first task queued, its one event
/// `workflow.started`; the parent's last event is `task.child_started`. The child's task is
/// claimable (its claim names the parent's task), `child_outcome` reports it running, and
/// `list_workflows` lists it.
pub async fn starting_a_child_stores_it_started_and_waits<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let (parent, claimed) = parent_of(
        &*store,
        owner,
        vec![child_transform("."), child_transform("{doubled: (.n * 2)}")],
    )
    .await;
    let [p] = ids(&parent);
    assert_eq!(claimed.task.task_type, TaskType::Workflow);
    assert_eq!(claimed.task.child_workflow_id, None, "no child yet");
    assert_eq!(claimed.parent_task, None, "a top-level workflow");

    let stolen = Claim {
        token: baton_domain::LeaseToken::new("thief"),
        ..claimed.clone()
    };
    let (lost_child, lost) = child_step(&stolen);
    assert_eq!(
        store.apply_step(&lost).await.expect("a fenced step"),
        StepApplied::Lost,
        "a child started without the lease is lost"
    );
    assert_not_found(
        store.get_workflow(Scope::All, lost_child.id()).await,
        "the child of a lost step",
    );
    assert_eq!(get_task(&*store, p).await.status, Running, "p is untouched");

    let (child, step) = child_step(&claimed);
    assert!(
        matches!(step.outcome, TaskOutcome::StartChild { .. }),
        "precondition: the step starts a child"
    );
    assert_eq!(child.parent(), Some((parent.id(), p)), "precondition");
    let [c0, c1] = ids(&child);
    assert_eq!(apply(&*store, &step).await, None);

    let waiting = get_task(&*store, p).await;
    assert_waiting(&waiting, child.id(), "after the start");
    assert_eq!(
        waiting.attempt, 0,
        "starting the child hands the attempt back: the join is the attempt"
    );
    assert_eq!(waiting.error, None, "a first attempt has no error");
    assert_eq!(
        waiting.resolved_input,
        Some(claimed.task.input.clone()),
        "the resolved input is kept"
    );
    let running = get_workflow(&*store, parent.id()).await;
    assert_eq!(running.status, WorkflowStatus::Running);
    assert_eq!(running.parent_id, None);
    assert_eq!(running.parent_task_id, None);
    assert_eq!(statuses(&running), [(p, Pending)]);

    let kid = get_workflow(&*store, child.id()).await;
    assert_eq!(kid.parent_id, Some(parent.id()), "the child's parent");
    assert_eq!(kid.parent_task_id, Some(p), "the task that waits for it");
    assert_eq!(kid.owner_id, owner, "owned by the parent's owner");
    assert_eq!(kid.name, "kid");
    assert_eq!(kid.input, child_input());
    assert_eq!(kid.status, WorkflowStatus::Running, "the child is started");
    assert!(kid.started_at.is_some());
    assert_eq!(kid.finished_at, None);
    assert_eq!(
        statuses(&kid),
        [(c0, Queued), (c1, Pending)],
        "the child's first task is queued"
    );
    assert_eq!(kid.tasks[1].input, json!({"jq": "{doubled: (.n * 2)}"}));
    assert!(kid.tasks.iter().all(|t| t.workflow_id == child.id()));
    let child_events = events_of(&*store, child.id()).await;
    assert_eq!(types(&child_events), ["workflow.started"]);
    assert_eq!(child_events[0].data, json!({}));
    let parent_events = events_of(&*store, parent.id()).await;
    let last = parent_events.last().expect("the parent's events");
    assert_eq!(
        (last.event_type.as_str(), &last.data),
        (
            "task.child_started",
            &json!({"task_id": p, "child_workflow_id": child.id()})
        ),
        "the parent's last event: {:?}",
        types(&parent_events)
    );
    assert_eq!(
        child_outcome(&*store, child.id()).await,
        ChildOutcome {
            status: WorkflowStatus::Running,
            output: None,
            error: None,
        }
    );
    assert_not_found(
        store.child_outcome(WorkflowId::generate()).await,
        "the outcome of an absent workflow",
    );
    let listed = store
        .list_workflows(
            Scope::Owner(owner),
            WorkflowFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    let mut listed: Vec<WorkflowId> = listed.items.iter().map(|w| w.id).collect();
    listed.sort();
    let mut both = vec![parent.id(), child.id()];
    both.sort();
    assert_eq!(listed, both, "the child is listed like any workflow");

    let first = claim_exactly(&*store, "w", &[c0]).await.remove(0);
    assert_eq!(first.task.workflow_id, child.id());
    assert_eq!(
        first.parent_task,
        Some(p),
        "the claim names the parent's task"
    );
    assert_eq!(first.workflow_name, "kid");
    assert_eq!(first.workflow_input, child_input());
    assert_eq!(
        get_task(&*store, p).await,
        waiting,
        "the child running leaves p waiting"
    );
}

/// A child of two tasks: completing the first leaves the parent's task waiting; completing
/// the last completes the child with its output and queues the parent's task (claimable once,
/// still naming its child), whose `child_outcome` is completed with that output. Completing
/// the parent's task with it completes the parent workflow.
pub async fn a_completed_child_releases_its_parent_task<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let (parent, claimed) = parent_of(
        &*store,
        UserId::generate(),
        vec![child_transform("."), child_transform("{doubled: 42}")],
    )
    .await;
    let [p] = ids(&parent);
    let child = start_child(&*store, &claimed).await;
    let [c0, c1] = ids(&child);

    let first = claim_exactly(&*store, "w", &[c0]).await.remove(0);
    assert_eq!(
        apply(&*store, &completed(&first, child_input())).await,
        None
    );
    assert_waiting(
        &get_task(&*store, p).await,
        child.id(),
        "the child is not done",
    );
    let second = claim_exactly(&*store, "w", &[c1]).await.remove(0);
    assert_eq!(second.parent_task, Some(p));
    let output = json!({"doubled": 42});
    let step = completed(&second, output.clone());
    assert!(
        matches!(
            step.workflow,
            WorkflowOutcome::TaskDone {
                parent_task: Some(t),
                ..
            } if t == p
        ),
        "precondition: the step releases the parent's task when it completes the child"
    );
    assert_eq!(apply(&*store, &step).await, None);

    let kid = get_workflow(&*store, child.id()).await;
    assert_completed(
        &*store,
        &kid,
        Some(output.clone()),
        ("task.completed", json!({"task_id": c1, "output": output})),
    )
    .await;
    assert_eq!(
        child_outcome(&*store, child.id()).await,
        ChildOutcome {
            status: WorkflowStatus::Completed,
            output: Some(output.clone()),
            error: None,
        },
        "the child's outcome"
    );
    let joined = rejoin(&*store, p, child.id(), "after the child completed").await;
    let running = get_workflow(&*store, parent.id()).await;
    assert_eq!(
        running.status,
        WorkflowStatus::Running,
        "the parent runs on"
    );
    assert_eq!(
        apply(&*store, &completed(&joined, output.clone())).await,
        None
    );
    assert_completed(
        &*store,
        &running,
        Some(output.clone()),
        ("task.completed", json!({"task_id": p, "output": output})),
    )
    .await;
}

/// The child's only task fails for good: the child fails and the parent's task is queued
/// (claimable once, naming its child), whose `child_outcome` is failed with the child's error;
/// the parent workflow still runs. The decided retry of the parent's task queues it again
/// forgetting its child, so that its next claim starts a new child (the failed one is kept).
pub async fn a_failed_child_releases_its_parent_task_to_fail<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let (parent, claimed) =
        parent_of(&*store, UserId::generate(), vec![child_transform(".")]).await;
    let [p] = ids(&parent);
    let child = start_child(&*store, &claimed).await;
    let [c] = ids(&child);

    let broken = claim_exactly(&*store, "w", &[c]).await.remove(0);
    assert_eq!(broken.parent_task, Some(p));
    let error = TaskError::permanent("http", "500 Internal Server Error");
    let step = StepCommit::failed(&broken, None, &error, None, Fence::Held);
    assert!(
        matches!(
            step.workflow,
            WorkflowOutcome::Failed {
                parent_task: Some(t),
                ..
            } if t == p
        ),
        "precondition: the failure releases the parent's task"
    );
    assert_eq!(apply(&*store, &step).await, None);

    let failed = get_workflow(&*store, child.id()).await;
    assert_eq!(failed.status, WorkflowStatus::Failed, "the child fails");
    assert!(failed.error.is_some());
    assert_eq!(
        child_outcome(&*store, child.id()).await,
        ChildOutcome {
            status: WorkflowStatus::Failed,
            output: None,
            error: failed.error.clone(),
        },
        "the child's outcome"
    );
    let joined = rejoin(&*store, p, child.id(), "after the child failed").await;
    assert_eq!(
        get_workflow(&*store, parent.id()).await.status,
        WorkflowStatus::Running,
        "the parent's task decides"
    );

    let retry = StepCommit::failed(
        &joined,
        None,
        &TaskError::retryable("child_failed", "the child workflow failed"),
        Some(Duration::ZERO),
        Fence::Held,
    );
    assert!(matches!(retry.outcome, TaskOutcome::Retry { .. }));
    assert_eq!(apply(&*store, &retry).await, None);
    let requeued = get_task(&*store, p).await;
    assert_eq!(requeued.status, Queued, "queued for another attempt");
    assert_eq!(
        requeued.child_workflow_id, None,
        "a retried task forgets its child"
    );
    let again = claim_exactly(&*store, "w", &[p]).await.remove(0);
    assert_eq!(again.task.child_workflow_id, None);
    let second = start_child(&*store, &again).await;
    assert_ne!(second.id(), child.id());
    assert_waiting(&get_task(&*store, p).await, second.id(), "the new child");
    let kid = get_workflow(&*store, second.id()).await;
    assert_eq!(kid.status, WorkflowStatus::Running);
    assert_eq!(kid.parent_task_id, Some(p));
    assert_eq!(
        get_workflow(&*store, child.id()).await,
        failed,
        "the failed child is kept as it was"
    );
    let [c2] = ids(&second);
    claim_exactly(&*store, "w", &[c2]).await;
}

/// A parent waits for a child of two independent tasks, one running and the other a
/// `workflow` task that started a grandchild whose task is running too. Cancelling the parent
/// (as read) cancels it, the child and the grandchild, each with all its tasks (leases
/// cleared) and one last `workflow.cancelled`; nothing is claimable, and the running tasks'
/// late completions are lost, changing nothing.
pub async fn cancelling_the_parent_cancels_the_child<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let mut work = child_transform(".");
    work["key"] = json!("work");
    work["depends_on"] = json!([]);
    let grandchild = json!({
        "key": "nested",
        "type": "workflow",
        "input": {"name": "grandkid", "input": {}, "tasks": [child_transform(".")]},
        "depends_on": [],
    });
    let (parent, claimed) = parent_of(&*store, UserId::generate(), vec![work, grandchild]).await;
    let [p] = ids(&parent);
    let child = start_child(&*store, &claimed).await;
    let [a, g] = ids(&child);
    let claims = claim_exactly(&*store, "w", &[a, g]).await;
    let (running, nested) = (&claims[0], &claims[1]);
    let grandkid = start_child(&*store, nested).await;
    let [gc] = ids(&grandkid);
    let deepest = claim_exactly(&*store, "w", &[gc]).await.remove(0);
    assert_eq!(deepest.parent_task, Some(g));
    assert_eq!(
        get_workflow(&*store, grandkid.id()).await.parent_id,
        Some(child.id())
    );

    let cancel = get_workflow(&*store, parent.id())
        .await
        .cancel()
        .expect("a running workflow can be cancelled");
    assert_eq!(
        cancel.effect,
        Effect::Cancel { parent_task: None },
        "precondition: a top-level workflow"
    );
    store.apply_transition(&cancel).await.unwrap();
    assert_cancelled(&*store, parent.id(), "the parent").await;
    assert_cancelled(&*store, child.id(), "the child").await;
    assert_cancelled(&*store, grandkid.id(), "the grandchild").await;
    assert_eq!(
        statuses(&get_workflow(&*store, child.id()).await),
        [(a, Cancelled), (g, Cancelled)]
    );
    assert_eq!(get_task(&*store, p).await.status, Cancelled);
    assert_eq!(
        child_outcome(&*store, child.id()).await.status,
        WorkflowStatus::Cancelled
    );
    assert!(claim(&*store, "w", 5).await.is_empty(), "nothing to claim");

    let ids = [parent.id(), child.id(), grandkid.id()];
    let mut before = Vec::new();
    for id in ids {
        before.push((
            get_workflow(&*store, id).await,
            events_of(&*store, id).await,
        ));
    }
    for late in [running, &deepest] {
        assert!(!store.heartbeat(late, LONG_LEASE).await.unwrap());
        assert_eq!(
            store
                .apply_step(&completed(late, json!({"late": true})))
                .await
                .unwrap(),
            StepApplied::Lost,
            "a cancelled descendant's late completion is lost"
        );
    }
    let mut after = Vec::new();
    for id in ids {
        after.push((
            get_workflow(&*store, id).await,
            events_of(&*store, id).await,
        ));
    }
    assert_eq!(after, before, "nothing changed");
    assert!(
        claim(&*store, "w", 5).await.is_empty(),
        "still nothing to claim"
    );
}

/// The child alone is cancelled (its task running): it and its task are cancelled, the
/// parent's task is queued (claimable once, naming its child) with `child_outcome` cancelled,
/// and the parent runs on; the child's late completion is lost, and failing the parent's task
/// for good fails the parent.
pub async fn cancelling_the_child_releases_the_parent_task<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let (parent, claimed) =
        parent_of(&*store, UserId::generate(), vec![child_transform(".")]).await;
    let [p] = ids(&parent);
    let child = start_child(&*store, &claimed).await;
    let [c] = ids(&child);
    let running = claim_exactly(&*store, "w", &[c]).await.remove(0);

    let cancel = get_workflow(&*store, child.id())
        .await
        .cancel()
        .expect("a running child can be cancelled");
    assert_eq!(
        cancel.effect,
        Effect::Cancel {
            parent_task: Some(p)
        },
        "precondition: the cancel releases the parent's task"
    );
    store.apply_transition(&cancel).await.unwrap();
    assert_cancelled(&*store, child.id(), "the child").await;
    assert_eq!(
        child_outcome(&*store, child.id()).await,
        ChildOutcome {
            status: WorkflowStatus::Cancelled,
            output: None,
            error: None,
        },
        "the child's outcome"
    );
    let parent_read = get_workflow(&*store, parent.id()).await;
    assert_eq!(
        parent_read.status,
        WorkflowStatus::Running,
        "the parent runs on"
    );
    assert_eq!(
        of_type(&events_of(&*store, parent.id()).await, "workflow.cancelled").len(),
        0,
        "the parent is not cancelled"
    );
    assert_eq!(
        store
            .apply_step(&completed(&running, json!({"late": true})))
            .await
            .unwrap(),
        StepApplied::Lost,
        "the cancelled child's late completion is lost"
    );
    let joined = rejoin(&*store, p, child.id(), "after the child was cancelled").await;
    let fail = StepCommit::failed(
        &joined,
        None,
        &TaskError::permanent("child_cancelled", "the child workflow was cancelled"),
        None,
        Fence::Held,
    );
    assert_eq!(apply(&*store, &fail).await, None);
    let failed = get_workflow(&*store, parent.id()).await;
    assert_eq!(failed.status, WorkflowStatus::Failed, "the parent fails");
    assert_eq!(
        get_workflow(&*store, child.id()).await.status,
        WorkflowStatus::Cancelled
    );
}

/// The child's last step races a cancel of the parent, over fresh workflows: both apply
/// without error and in time (no deadlock). Afterwards the parent is cancelled, and the child
/// either completed first (its step applied: the child completed with its output) or was
/// cancelled with the parent (its step lost); nothing of either is left pending, queued or
/// running, and nothing is claimable.
pub async fn the_child_s_last_step_races_a_cancel_of_the_parent<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    for round in 0..ROUNDS {
        let (parent, claimed) = parent_of(&*store, owner, vec![child_transform(".")]).await;
        let [p] = ids(&parent);
        let child = start_child(&*store, &claimed).await;
        let [c] = ids(&child);
        let last = claim_exactly(&*store, "w", &[c]).await.remove(0);
        let output = json!({"round": round});
        let step = completed(&last, output.clone());
        let cancel = get_workflow(&*store, parent.id()).await.cancel().unwrap();

        // Which goes first alternates: the future polled first sends its statements first.
        let (stepped, cancelled) = tokio::time::timeout(DEADLINE, async {
            if round % 2 == 0 {
                tokio::join!(store.apply_step(&step), store.apply_transition(&cancel))
            } else {
                let (cancelled, stepped) =
                    tokio::join!(store.apply_transition(&cancel), store.apply_step(&step));
                (stepped, cancelled)
            }
        })
        .await
        .unwrap_or_else(|_| panic!("round {round}: the race hangs (a deadlock?)"));
        let stepped = stepped.unwrap_or_else(|err| panic!("round {round}: the step: {err}"));
        cancelled.unwrap_or_else(|err| panic!("round {round}: the cancel: {err}"));

        assert_cancelled(&*store, parent.id(), &format!("round {round}: the parent")).await;
        assert_eq!(get_task(&*store, p).await.status, Cancelled);
        let kid = get_workflow(&*store, child.id()).await;
        match stepped {
            StepApplied::Applied { next } => {
                assert_eq!(next, None);
                assert_eq!(
                    kid.status,
                    WorkflowStatus::Completed,
                    "round {round}: the step applied, so the child completed"
                );
                assert_eq!(kid.output, Some(output));
                assert_eq!(statuses(&kid), [(c, Completed)]);
                let events = events_of(&*store, child.id()).await;
                assert_eq!(
                    of_type(&events, "workflow.cancelled").len(),
                    0,
                    "round {round}: a completed child is not cancelled: {:?}",
                    types(&events)
                );
            }
            StepApplied::Lost => {
                assert_cancelled(&*store, child.id(), &format!("round {round}: the child")).await;
            }
        }
        for workflow in [parent.id(), child.id()] {
            let read = get_workflow(&*store, workflow).await;
            assert!(
                read.tasks
                    .iter()
                    .all(|t| !TaskStatus::UNFINISHED.contains(&t.status)),
                "round {round}: nothing left unfinished: {:?}",
                statuses(&read)
            );
            assert!(read.finished_at.is_some(), "round {round}");
        }
        assert!(
            claim(&*store, "w", 3).await.is_empty(),
            "round {round}: nothing to claim"
        );
    }
}

/// A parent whose `workflow` task p (waiting for its child) and a sibling s run side by side;
/// s fails for good, failing the parent while the child still runs. When the child then
/// completes, p is cancelled, not queued (its workflow is not running: nothing may run it),
/// and nothing is claimable; a retry of the parent queues p again, forgetting its child, and s.
pub async fn a_child_ending_after_its_parent_failed_cancels_the_waiting_task<F: StoreFactory>(
    factory: &F,
) {
    let store = factory.store().await;
    let mut p = workflow_task("p", "kid", vec![child_transform(".")]);
    p.depends_on = Some(Vec::new());
    let s = crate::support::needs("s", &[]);
    let parent = workflow(UserId::generate(), "parent", vec![p, s]);
    create_started(&*store, &parent).await;
    let [p, s] = ids(&parent);
    let mut claims = claim_exactly(&*store, "w", &[p, s]).await;
    let claimed_s = claims.pop().expect("s is claimed");
    let claimed_p = claims.pop().expect("p is claimed");
    let child = start_child(&*store, &claimed_p).await;
    let error = TaskError::permanent("test", "s breaks");
    let failing = StepCommit::failed(&claimed_s, None, &error, None, Fence::Held);
    assert_eq!(apply(&*store, &failing).await, None);
    assert_eq!(
        get_workflow(&*store, parent.id()).await.status,
        WorkflowStatus::Failed
    );
    assert_waiting(&get_task(&*store, p).await, child.id(), "the parent failed");

    let [c0] = ids(&child);
    let kid_task = claim_exactly(&*store, "w", &[c0]).await.remove(0);
    assert_eq!(
        apply(&*store, &completed(&kid_task, json!({"late": true}))).await,
        None
    );
    let waiting = get_task(&*store, p).await;
    assert_eq!(
        waiting.status, Cancelled,
        "a task released into a failed workflow is cancelled, not queued"
    );
    assert!(
        claim(&*store, "w", 2).await.is_empty(),
        "nothing of a failed workflow is claimable"
    );

    let failed = get_workflow(&*store, parent.id()).await;
    let retry = failed.retry().expect("the failed parent can be retried");
    let Effect::Retry { requeue } = &retry.effect else {
        panic!("a retry requeues: {:?}", retry.effect)
    };
    let mut requeue = requeue.clone();
    requeue.sort();
    let mut expected = vec![p, s];
    expected.sort();
    assert_eq!(requeue, expected, "the retry runs p and s again");
    store
        .apply_transition(&retry)
        .await
        .expect("the retry applies");
    let again = get_task(&*store, p).await;
    assert_eq!(again.status, Queued);
    assert_eq!(
        again.child_workflow_id, None,
        "its next claim starts a new child"
    );
}
