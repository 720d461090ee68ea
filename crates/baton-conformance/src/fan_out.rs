//! Fan-out: a task with `for_each` expands into elements, tasks of their own (claimed, leased,
//! fenced and retried like any task) that copy its type, input, retry policy and time limit;
//! the task waits, pending, until the last of them is done, then runs again to join their
//! outputs. A store keeps the elements apart from the workflow's tasks, releases them
//! `max_parallel` at a time as the domain decided, and cancels, retries and deletes them with
//! their workflow.

use std::collections::BTreeSet;

use baton_domain::ports::{Scope, StoreError, TaskFilter, TaskQueue, WorkflowStore};
use baton_domain::{
    CarryOn, Claim, Dependent, Edit, Effect, ElementResult, Event, Fence, NewElement, NewTask,
    RetryDraft, StepApplied, StepCommit, Task, TaskDraft, TaskError, TaskId, TaskOutcome,
    TaskPatch, TaskStatus, TaskType, UserId, Workflow, WorkflowOutcome, WorkflowStatus,
};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::graph::assert_completed;
use crate::support::{
    LONG_LEASE, apply, assert_not_found, claim, claim_exactly, claim_one, create, create_started,
    events_of, get_task, get_workflow, page, snapshot, transform, types, workflow,
};
use crate::{ConformantStore, StoreFactory};

use TaskStatus::{Cancelled, Completed, Failed, Pending, Queued, Running};

/// The fan-out template of the tasks here (the contracts decide the items themselves).
const TEMPLATE: &str = "{{ input.items }}";

/// How many fresh workflows the concurrent joins run through: a lost update of the parent's
/// count only shows when the writes interleave, so give it several chances.
const ROUNDS: usize = 6;

/// A transform fanning out over [`TEMPLATE`], with a retry policy and a time limit that are not
/// the defaults, so that a store copying them to its elements shows.
fn fan_out(key: &str, max_parallel: Option<u32>) -> TaskDraft {
    TaskDraft {
        key: Some(key.into()),
        title: Some(format!("each of {key}")),
        task_type: "transform".into(),
        input: Some(json!({"jq": "{n: .item.n, doubled: (.item.n * 2)}"})),
        retry: Some(RetryDraft {
            max_attempts: Some(5),
            initial_ms: Some(250),
            max_ms: Some(4_000),
            multiplier: Some(3.0),
        }),
        timeout_ms: Some(45_000),
        for_each: Some(TEMPLATE.into()),
        max_parallel,
        ..TaskDraft::default()
    }
}

/// The items of a fan-out of `n` elements.
fn items(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"n": i})).collect()
}

/// What element `i` outputs here.
fn output(i: usize) -> Value {
    json!({"n": i, "doubled": 2 * i})
}

/// The ids of a workflow's tasks, in position order.
fn ids<const N: usize>(new: &baton_domain::NewWorkflow) -> [TaskId; N] {
    let ids: Vec<TaskId> = new.tasks().iter().map(|t| t.id()).collect();
    ids.try_into()
        .unwrap_or_else(|ids: Vec<TaskId>| panic!("{N} tasks, not {}", ids.len()))
}

/// The elements a decided expansion stores.
fn elements(step: &StepCommit) -> Vec<NewElement> {
    match &step.outcome {
        TaskOutcome::Expand { elements } => elements.clone(),
        other => panic!("precondition: an expansion, not {other:?}"),
    }
}

/// Applies the expansion of `parent` over `items`: the ids of its elements by index, and the
/// task claimed for the worker (with `carry_on`).
async fn expand<S: ConformantStore>(
    store: &S,
    parent: &Claim,
    items: Vec<Value>,
    max_parallel: Option<u32>,
    carry_on: Option<&CarryOn>,
) -> (Vec<TaskId>, Option<Claim>) {
    let step = StepCommit::expanded(parent, items, max_parallel, carry_on);
    let ids = elements(&step).iter().map(|e| e.id).collect();
    let next = apply(store, &step).await;
    (ids, next)
}

/// Starts a workflow of one fan-out task and claims it.
async fn fanning_out<S: ConformantStore>(
    store: &S,
    owner: UserId,
    name: &str,
    max_parallel: Option<u32>,
) -> (baton_domain::NewWorkflow, Claim) {
    let new = workflow(owner, name, vec![fan_out("p", max_parallel)]);
    create_started(store, &new).await;
    let [p] = ids(&new);
    let parent = claim_exactly(store, "w", &[p]).await.remove(0);
    (new, parent)
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

/// Completes the claimed element with its output.
async fn complete_element<S: ConformantStore>(store: &S, claim: &Claim) -> Option<Claim> {
    let index = claim.task.element_index.expect("an element's claim") as usize;
    apply(store, &completed(claim, output(index))).await
}

fn dependent(id: TaskId, position: i32, attempt: i32, waiting_on: i32) -> Dependent {
    Dependent {
        id,
        position,
        attempt,
        waiting_on,
        element_index: None,
    }
}

/// An element as a claim reports it among the dependents.
fn element(id: TaskId, position: i32, index: i32) -> Dependent {
    Dependent {
        element_index: Some(index),
        ..dependent(id, position, 0, 1)
    }
}

/// Dependents in a fixed order (a store may report them in any).
fn sorted(mut dependents: Vec<Dependent>) -> Vec<Dependent> {
    dependents.sort_by_key(|d| d.id);
    dependents
}

fn sorted_ids(ids: &[TaskId]) -> Vec<TaskId> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// The statuses of tasks read by id, in the order given.
async fn statuses_of<S: ConformantStore>(store: &S, ids: &[TaskId]) -> Vec<TaskStatus> {
    let mut statuses = Vec::with_capacity(ids.len());
    for id in ids {
        statuses.push(get_task(store, *id).await.status);
    }
    statuses
}

/// Tasks read by id, in the order given.
async fn tasks_of<S: ConformantStore>(store: &S, ids: &[TaskId]) -> Vec<Task> {
    let mut tasks = Vec::with_capacity(ids.len());
    for id in ids {
        tasks.push(get_task(store, *id).await);
    }
    tasks
}

/// The `task.started` events of one task, oldest first.
fn started_events(events: &[Event], task: TaskId) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| e.event_type == "task.started" && e.data["task_id"] == json!(task))
        .collect()
}

/// Each element completed with its output, by index.
fn all_completed(n: usize) -> Vec<ElementResult> {
    (0..n)
        .map(|i| ElementResult {
            index: i as i32,
            status: Completed,
            output: Some(output(i)),
        })
        .collect()
}

async fn element_results<S: ConformantStore>(store: &S, parent: TaskId) -> Vec<ElementResult> {
    store
        .element_results(parent)
        .await
        .unwrap_or_else(|err| panic!("read the elements of {parent}: {err}"))
}

/// The parent, released by its last element, is claimable exactly once: claims it, joins
/// the elements' outputs (in index order) and completes it with them; returns that output.
async fn join<S: ConformantStore>(store: &S, parent: TaskId, n: usize, what: &str) -> Value {
    assert_eq!(
        element_results(store, parent).await,
        all_completed(n),
        "{what}: every element by index, with its output"
    );
    let joined = claim_exactly(store, "w", &[parent]).await.remove(0);
    assert!(
        claim(store, "w", 2).await.is_empty(),
        "{what}: the parent is claimable once"
    );
    assert_eq!(joined.task.elements, Some(n as i32));
    assert_eq!(joined.task.parent_task_id, None);
    assert_eq!(joined.task.status, Running);
    let outputs = Value::Array((0..n).map(output).collect());
    assert_eq!(
        apply(store, &completed(&joined, outputs.clone())).await,
        None
    );
    outputs
}

/// Applies an edit that must apply, and reads the workflow after it.
async fn edited<S: ConformantStore>(store: &S, edit: Edit) -> Workflow {
    store.apply_edit(&edit).await.expect("apply the edit");
    get_workflow(store, edit.workflow_id).await
}

/// Each task's `for_each` and `max_parallel`, by position.
fn fan_outs(workflow: &Workflow) -> Vec<(Option<&str>, Option<u32>)> {
    workflow
        .tasks
        .iter()
        .map(|t| (t.for_each.as_deref(), t.max_parallel))
        .collect()
}

/// a → p → z, p fanning out with `max_parallel` (3 as created, 2 after an edit; `z` added by
/// an edit): both survive creation and edits. Expanding p over 5 items makes it pending with
/// `elements = 5`, its lease cleared, and stores 5 elements of which exactly 0 and 1 are
/// queued. Each element reads back with its parent, index and item and the parent's type,
/// input, retry policy, time limit, owner and position; claimed, it reports its dependents
/// (the parent, and the element 2 after it). The workflow's tasks and `steps_before` do not
/// list the elements; `list_tasks` does. The `task.fanned_out` event names the count, and
/// each element's `task.started` event its index.
pub async fn expanding_stores_the_elements_and_waits<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(
        owner,
        "fan out",
        vec![transform(Some("a")), fan_out("p", Some(3))],
    );
    create(&*store, &new).await;
    let [a, p] = ids(&new);
    let read = get_workflow(&*store, new.id()).await;
    assert_eq!(
        fan_outs(&read),
        [(None, None), (Some(TEMPLATE), Some(3))],
        "for_each and max_parallel read back as created"
    );
    assert_eq!(read.tasks[1].elements, None, "not fanned out yet");
    assert_eq!(read.elements_to_retry, []);
    let narrower = TaskPatch {
        max_parallel: Some(Some(2)),
        ..TaskPatch::default()
    };
    let read = edited(&*store, read.update_task(p, &narrower, None).unwrap()).await;
    let last = NewTask::new(transform(Some("z"))).unwrap();
    let z = last.id();
    let read = edited(&*store, read.add_task(last, None).unwrap()).await;
    assert_eq!(
        fan_outs(&read),
        [(None, None), (Some(TEMPLATE), Some(2)), (None, None)],
        "max_parallel changed by a patch, for_each kept"
    );

    store
        .apply_transition(&read.start().unwrap())
        .await
        .unwrap();
    let first = claim_exactly(&*store, "w", &[a]).await.remove(0);
    let items = items(5);
    apply(&*store, &completed(&first, json!({"items": items}))).await;
    let parent = claim_exactly(&*store, "w", &[p]).await.remove(0);
    assert_eq!(parent.task.for_each.as_deref(), Some(TEMPLATE));
    assert_eq!(parent.task.max_parallel, Some(2));
    assert_eq!(parent.task.elements, None);
    assert_eq!(parent.dependents, [dependent(z, 2, 0, 1)]);
    assert_eq!(parent.output_task, Some(z));

    let step = StepCommit::expanded(&parent, items.clone(), Some(2), None);
    let new_elements = elements(&step);
    assert_eq!(
        new_elements
            .iter()
            .map(|e| e.waiting_on)
            .collect::<Vec<_>>(),
        [0, 0, 1, 1, 1],
        "precondition: two run at once"
    );
    let e: Vec<TaskId> = new_elements.iter().map(|e| e.id).collect();
    assert_eq!(apply(&*store, &step).await, None);

    let waiting = get_task(&*store, p).await;
    assert_eq!(waiting.status, Pending, "the parent waits for its elements");
    assert_eq!(waiting.elements, Some(5));
    assert_eq!(waiting.lease_owner, None, "the parent's lease is cleared");
    assert_eq!(waiting.lease_expires_at, None);
    assert_eq!(waiting.output, None);
    assert_eq!(waiting.error, None);
    assert_eq!(waiting.finished_at, None);
    assert_eq!(waiting.for_each.as_deref(), Some(TEMPLATE));
    assert_eq!(waiting.parent_task_id, None);
    assert_eq!(
        waiting.attempt, 0,
        "fanning out hands the attempt back: the join is the attempt"
    );

    let running = get_workflow(&*store, new.id()).await;
    assert_eq!(running.status, WorkflowStatus::Running);
    assert_eq!(
        running.tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        [a, p, z],
        "the elements are not the workflow's tasks"
    );
    assert_eq!(
        running.tasks.iter().map(|t| t.status).collect::<Vec<_>>(),
        [Completed, Pending, Pending]
    );
    assert_eq!(running.tasks[1].elements, Some(5));
    assert_eq!(running.elements_to_retry, []);
    let before = store.steps_before(new.id(), 3).await.unwrap();
    assert_eq!(
        before
            .iter()
            .map(|s| (s.position, s.key.as_deref()))
            .collect::<Vec<_>>(),
        [(0, Some("a")), (1, Some("p")), (2, Some("z"))],
        "templates do not see the elements"
    );

    for (i, id) in e.iter().enumerate() {
        let element = store
            .get_task(Scope::Owner(owner), *id)
            .await
            .unwrap_or_else(|err| panic!("element {i}, read by its owner: {err}"));
        assert_eq!(element.parent_task_id, Some(p), "element {i}");
        assert_eq!(element.element_index, Some(i as i32));
        assert_eq!(element.item, Some(items[i].clone()));
        assert_eq!(element.workflow_id, new.id());
        assert_eq!(element.owner_id, owner);
        assert_eq!(element.position, 1, "the parent's position");
        assert_eq!(element.key, None, "an element has no key");
        assert_eq!(element.title, waiting.title);
        assert_eq!(element.task_type, TaskType::Transform);
        assert_eq!(element.input, waiting.input, "the parent's input");
        assert_eq!(element.retry, waiting.retry, "the parent's retry policy");
        assert_eq!(element.timeout_ms, 45_000, "the parent's time limit");
        assert_eq!(element.for_each, None, "an element does not fan out");
        assert_eq!(element.max_parallel, None);
        assert_eq!(element.elements, None);
        assert_eq!(element.attempt, 0);
        assert_eq!(element.output, None);
        assert_eq!(
            element.status,
            if i < 2 { Queued } else { Pending },
            "element {i}: only two run at once"
        );
    }
    let listed = store
        .list_tasks(
            Scope::All,
            TaskFilter {
                workflow_id: Some(new.id()),
                status: None,
            },
            page(100, None),
        )
        .await
        .unwrap();
    let listed: BTreeSet<(TaskId, Option<TaskId>, Option<i32>)> = listed
        .items
        .iter()
        .map(|t| (t.id, t.parent_task_id, t.element_index))
        .collect();
    let mut expected: BTreeSet<_> = [a, p, z].into_iter().map(|id| (id, None, None)).collect();
    expected.extend(
        e.iter()
            .enumerate()
            .map(|(i, id)| (*id, Some(p), Some(i as i32))),
    );
    assert_eq!(
        listed, expected,
        "list_tasks lists the elements, with their parent and index"
    );

    let claims = claim_exactly(&*store, "w", &e[..2]).await;
    for (i, claimed) in claims.iter().enumerate() {
        let task = &claimed.task;
        assert_eq!(task.id, e[i]);
        assert_eq!(task.parent_task_id, Some(p), "claim of element {i}");
        assert_eq!(task.element_index, Some(i as i32));
        assert_eq!(task.item, Some(items[i].clone()));
        assert_eq!(task.task_type, TaskType::Transform);
        assert_eq!(task.input, waiting.input);
        assert_eq!(task.retry, waiting.retry);
        assert_eq!(task.timeout_ms, 45_000);
        assert_eq!(task.status, Running);
        assert_eq!(task.attempt, 1);
        assert_eq!(task.lease_owner.as_deref(), Some(claimed.token.as_str()));
        assert_eq!(claimed.workflow_name, "fan out");
        assert_eq!(claimed.output_task, Some(z));
        assert_eq!(
            sorted(claimed.dependents.clone()),
            sorted(vec![
                dependent(p, 1, 0, 5),
                element(e[i + 2], 1, (i + 2) as i32)
            ]),
            "element {i} releases the parent and the element two after it"
        );
    }

    let events = events_of(&*store, new.id()).await;
    let fanned: Vec<(usize, &Event)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event_type == "task.fanned_out")
        .collect();
    let [(fanned_at, fanned)] = &fanned[..] else {
        panic!("one task.fanned_out event: {:?}", types(&events))
    };
    assert_eq!(fanned.data, json!({"task_id": p, "elements": 5}));
    assert_eq!(
        started_events(&events, p)
            .iter()
            .map(|e| &e.data)
            .collect::<Vec<_>>(),
        [&json!({"task_id": p, "attempt": 1, "worker": "w"})],
        "the parent is no element: no index"
    );
    for (i, id) in e.iter().enumerate() {
        let started = started_events(&events, *id);
        if i >= 2 {
            assert!(started.is_empty(), "element {i} has not started");
            continue;
        }
        let [started] = &started[..] else {
            panic!("element {i} started once: {:?}", types(&events))
        };
        assert_eq!(
            started.data,
            json!({"task_id": id, "attempt": 1, "worker": "w", "index": i}),
            "element {i}'s task.started event carries its index"
        );
        assert!(
            events.iter().position(|e| e.id == started.id) > Some(*fanned_at),
            "after task.fanned_out"
        );
    }
}

/// p fanning out over 5 items, 2 at a time, expanded with a `CarryOn` (its `then_claim` takes
/// one of the two queued elements, its `task.started` event carrying the index). Element 0
/// completing under a `CarryOn` claims element 2 (the decided token), element 1 completing
/// without one queues element 3, and so on; while elements run, the parent stays pending and
/// `element_results` reports each element by index with its status and output. The last
/// element's release queues the parent, claimable once; its completion with the joined
/// outputs completes the workflow with them.
pub async fn elements_release_the_next_and_the_last_releases_the_parent<F: StoreFactory>(
    factory: &F,
) {
    let store = factory.store().await;
    let (new, parent) = fanning_out(&*store, UserId::generate(), "joined", Some(2)).await;
    let [p] = ids(&new);
    assert_eq!(parent.output_task, Some(p));
    let carry = carry_on("carrier");
    let items = items(5);
    let step = StepCommit::expanded(&parent, items.clone(), Some(2), Some(&carry));
    let then = step
        .then_claim
        .clone()
        .expect("precondition: the worker claims an element at once");
    let e: Vec<TaskId> = elements(&step).iter().map(|e| e.id).collect();
    let first = apply(&*store, &step)
        .await
        .expect("then_claim takes one of the queued elements");
    assert!(
        e[..2].contains(&first.task.id),
        "one of the two queued elements"
    );
    assert_eq!(first.token, then.token, "under the decided token");
    assert_eq!(first.task.status, Running);
    assert_eq!(first.task.attempt, 1);
    assert_eq!(first.task.parent_task_id, Some(p));
    let first_index = first
        .task
        .element_index
        .expect("an element's claim has its index") as usize;
    assert_eq!(first.task.id, e[first_index]);
    assert_eq!(first.task.item, Some(items[first_index].clone()));
    let events = events_of(&*store, new.id()).await;
    assert_eq!(
        started_events(&events, first.task.id)
            .iter()
            .map(|e| &e.data)
            .collect::<Vec<_>>(),
        [&json!({
            "task_id": first.task.id,
            "attempt": 1,
            "worker": "carrier",
            "index": first_index,
        })],
        "then_claim's task.started event carries the index"
    );
    let other = claim_exactly(&*store, "w", &[e[1 - first_index]])
        .await
        .remove(0);
    let (zero, one) = if first_index == 0 {
        (first, other)
    } else {
        (other, first)
    };

    let step = StepCommit::completed(&zero, json!({}), output(0), None, Some(&carry));
    assert_eq!(
        (&step.release, &step.workflow),
        (&vec![p], &WorkflowOutcome::Unchanged),
        "precondition: an element releases its parent, the workflow is unchanged"
    );
    let (decided_id, decided) = step
        .claim_task
        .clone()
        .expect("precondition: element 2 is claimed for the worker");
    assert_eq!(decided_id, e[2]);
    let two = apply(&*store, &step)
        .await
        .expect("element 2, claimed for the worker");
    assert_eq!(two.task.id, e[2]);
    assert_eq!(two.token, decided.token, "under the decided token");
    assert_eq!(two.task.status, Running);
    assert_eq!(two.task.attempt, 1);
    assert_eq!(two.task.parent_task_id, Some(p));
    assert_eq!(two.task.element_index, Some(2));
    assert_eq!(two.task.item, Some(items[2].clone()));
    assert_eq!(
        sorted(two.dependents.clone()),
        sorted(vec![dependent(p, 0, 0, 4), element(e[4], 0, 4)]),
        "the parent counts element 0 done"
    );
    assert_eq!(statuses_of(&*store, &[p, e[3], e[4]]).await, [Pending; 3]);
    let events = events_of(&*store, new.id()).await;
    let done = events
        .iter()
        .find(|ev| ev.event_type == "task.completed")
        .expect("element 0's task.completed event");
    assert_eq!(
        done.data,
        json!({"task_id": e[0], "output": output(0), "index": 0}),
        "an element's task.completed event carries its index"
    );
    assert_eq!(started_events(&events, e[2]).len(), 1);

    let step = completed(&one, output(1));
    assert_eq!(
        (&step.queue, &step.release),
        (&vec![e[3]], &vec![p]),
        "precondition"
    );
    assert_eq!(apply(&*store, &step).await, None);
    assert_eq!(
        statuses_of(&*store, &e).await,
        [Completed, Completed, Running, Queued, Pending],
        "element 1 made element 3 ready"
    );
    assert_eq!(get_task(&*store, p).await.status, Pending);
    let three = claim_exactly(&*store, "w", &[e[3]]).await.remove(0);
    assert_eq!(complete_element(&*store, &two).await, None);
    let four = claim_exactly(&*store, "w", &[e[4]]).await.remove(0);

    assert_eq!(
        element_results(&*store, p).await,
        (0..5)
            .map(|i| ElementResult {
                index: i as i32,
                status: if i < 3 { Completed } else { Running },
                output: (i < 3).then(|| output(i)),
            })
            .collect::<Vec<_>>(),
        "every element by index, with its status and output"
    );
    let running = get_workflow(&*store, new.id()).await;
    assert_eq!(running.status, WorkflowStatus::Running);
    assert_eq!(
        running
            .tasks
            .iter()
            .map(|t| (t.id, t.status))
            .collect::<Vec<_>>(),
        [(p, Pending)]
    );

    assert_eq!(complete_element(&*store, &three).await, None);
    assert_eq!(
        get_task(&*store, p).await.status,
        Pending,
        "the parent still waits for element 4"
    );
    let step = completed(&four, output(4));
    assert_eq!(
        (&step.queue, &step.release),
        (&vec![], &vec![p]),
        "precondition: element 4's claim saw the parent waiting on two"
    );
    assert_eq!(apply(&*store, &step).await, None);
    let released = get_task(&*store, p).await;
    assert_eq!(
        released.status, Queued,
        "the last element queues the parent"
    );
    assert_eq!(
        get_workflow(&*store, new.id()).await.status,
        WorkflowStatus::Running,
        "elements do not finish the workflow"
    );
    assert!(
        !types(&events_of(&*store, new.id()).await).contains(&"workflow.completed"),
        "not completed before the parent joins"
    );

    let outputs = join(&*store, p, 5, "after the last element").await;
    let events = events_of(&*store, new.id()).await;
    let parent_started = started_events(&events, p);
    assert_eq!(parent_started.len(), 2, "the parent started twice");
    assert_eq!(
        parent_started[1].data.get("index"),
        None,
        "the parent is no element"
    );
    assert_completed(
        &*store,
        &running,
        Some(outputs.clone()),
        ("task.completed", json!({"task_id": p, "output": outputs})),
    )
    .await;
}

/// p fanning out to 8 elements at once (no `max_parallel`): all claimed, then completed
/// concurrently — each step saw the parent waiting on 8 and releases it. The parent is queued
/// once all are applied, claimable once, and the workflow completes with the joined outputs.
/// Repeated over fresh workflows.
pub async fn concurrent_last_elements_release_the_parent_once<F: StoreFactory>(factory: &F) {
    const WIDTH: usize = 8;
    let store = factory.store().await;
    let owner = UserId::generate();
    for round in 0..ROUNDS {
        let (new, parent) = fanning_out(&*store, owner, "wide", None).await;
        let [p] = ids(&new);
        let (e, next) = expand(&*store, &parent, items(WIDTH), None, None).await;
        assert_eq!(next, None);
        assert_eq!(
            statuses_of(&*store, &e).await,
            [Queued; WIDTH],
            "round {round}: all run at once"
        );
        let claims = claim_exactly(&*store, "w", &e).await;
        let steps: Vec<StepCommit> = claims
            .iter()
            .enumerate()
            .map(|(i, c)| completed(c, output(i)))
            .collect();
        for step in &steps {
            assert_eq!(
                (&step.queue, &step.release),
                (&vec![], &vec![p]),
                "precondition: each element releases the parent"
            );
        }
        let applied = join_all(steps.iter().map(|s| store.apply_step(s))).await;
        for applied in applied {
            assert_eq!(
                applied.expect("a concurrent step applies"),
                StepApplied::Applied { next: None }
            );
        }
        assert_eq!(
            get_task(&*store, p).await.status,
            Queued,
            "round {round}: the parent is queued once every element is done"
        );
        let running = get_workflow(&*store, new.id()).await;
        assert_eq!(running.status, WorkflowStatus::Running);
        let outputs = join(&*store, p, WIDTH, &format!("round {round}")).await;
        let events = events_of(&*store, new.id()).await;
        assert_eq!(
            started_events(&events, p).len(),
            2,
            "round {round}: the parent started again once"
        );
        assert_completed(
            &*store,
            &running,
            Some(outputs.clone()),
            ("task.completed", json!({"task_id": p, "output": outputs})),
        )
        .await;
    }
}

/// p fanning out to 5 elements at once: 0, 1 and 2 complete, 4 is running, 3 fails for good.
/// The workflow fails with an error naming the element (its index and parent), element 4 is
/// cancelled (its lease cleared: its heartbeat and late completion are refused), the parent
/// stays pending, and the workflow lists elements 3 and 4 to retry. The decided retry
/// requeues exactly those, with fresh attempts; the completed elements keep their outputs;
/// neither the failure nor the cancellation released the parent, and the run then finishes.
pub async fn a_failed_element_fails_the_workflow_and_retry_reruns_only_it<F: StoreFactory>(
    factory: &F,
) {
    let store = factory.store().await;
    let (new, parent) = fanning_out(&*store, UserId::generate(), "one fails", None).await;
    let [p] = ids(&new);
    let (e, _) = expand(&*store, &parent, items(5), None, None).await;
    let claims = claim_exactly(&*store, "w", &e).await;
    for claimed in &claims[..3] {
        complete_element(&*store, claimed).await;
    }
    let error = TaskError::permanent("http", "422 Unprocessable Entity");
    let step = StepCommit::failed(
        &claims[3],
        Some(json!({"item": 3})),
        &error,
        None,
        Fence::Held,
    );
    assert_eq!(apply(&*store, &step).await, None);

    let failed = get_workflow(&*store, new.id()).await;
    assert_eq!(failed.status, WorkflowStatus::Failed);
    assert!(failed.finished_at.is_some());
    assert_eq!(
        failed.error,
        Some(json!({
            "task_id": e[3],
            "position": 0,
            "key": null,
            "kind": "http",
            "message": "422 Unprocessable Entity",
            "parent_task_id": p,
            "index": 3,
        })),
        "the workflow's error names the element"
    );
    assert_eq!(
        failed
            .tasks
            .iter()
            .map(|t| (t.id, t.status))
            .collect::<Vec<_>>(),
        [(p, Pending)],
        "the parent waits, pending"
    );
    assert_eq!(
        sorted_ids(&failed.elements_to_retry),
        sorted_ids(&e[3..]),
        "the failed and the cancelled element are to retry"
    );
    let elements = tasks_of(&*store, &e).await;
    assert_eq!(
        elements.iter().map(|t| t.status).collect::<Vec<_>>(),
        [Completed, Completed, Completed, Failed, Cancelled],
        "the running element is cancelled"
    );
    let (broken, cancelled) = (&elements[3], &elements[4]);
    assert_eq!(broken.error, Some(error.to_json(1)));
    assert_eq!(broken.attempt, 1);
    assert_eq!(broken.lease_owner, None);
    assert!(broken.finished_at.is_some());
    assert_eq!(cancelled.lease_owner, None, "the lease is cleared");
    assert_eq!(cancelled.lease_expires_at, None);
    assert!(cancelled.finished_at.is_some());
    let events = events_of(&*store, new.id()).await;
    let tail = &events[events.len() - 2..];
    assert_eq!(types(tail), ["task.failed", "workflow.failed"]);
    assert_eq!(
        tail[0].data,
        json!({"task_id": e[3], "error": error.to_json(1), "index": 3})
    );
    assert_eq!(tail[1].data, json!({"error": failed.error.clone()}));

    let before = (
        snapshot(&*store, new.id()).await,
        tasks_of(&*store, &e).await,
    );
    assert!(
        !store.heartbeat(&claims[4], LONG_LEASE).await.unwrap(),
        "the cancelled element's lease is gone"
    );
    assert_eq!(
        store
            .apply_step(&completed(&claims[4], output(4)))
            .await
            .unwrap(),
        StepApplied::Lost,
        "a cancelled element's late result is refused"
    );
    let after = (
        snapshot(&*store, new.id()).await,
        tasks_of(&*store, &e).await,
    );
    assert_eq!(after, before, "nothing changed");

    let retry = failed.retry().expect("a failed workflow can be retried");
    let Effect::Retry { requeue } = &retry.effect else {
        panic!("a retry, not {:?}", retry.effect)
    };
    assert_eq!(
        sorted_ids(requeue),
        sorted_ids(&e[3..]),
        "precondition: the retry requeues the two elements"
    );
    store.apply_transition(&retry).await.unwrap();
    let resumed = get_workflow(&*store, new.id()).await;
    assert_eq!(resumed.status, WorkflowStatus::Running);
    assert_eq!(resumed.error, None);
    assert_eq!(resumed.finished_at, None);
    assert_eq!(resumed.elements_to_retry, [], "nothing left to retry");
    assert_eq!(resumed.tasks[0].status, Pending);
    let elements = tasks_of(&*store, &e).await;
    assert_eq!(
        elements.iter().map(|t| t.status).collect::<Vec<_>>(),
        [Completed, Completed, Completed, Queued, Queued],
        "completed elements are kept"
    );
    for (i, element) in elements.iter().enumerate() {
        if i < 3 {
            assert_eq!(element.output, Some(output(i)));
        } else {
            assert_eq!(element.attempt, 0, "element {i}: a fresh attempt budget");
        }
    }

    let again = claim_exactly(&*store, "w", &e[3..]).await;
    for claimed in &again {
        assert_eq!(claimed.task.attempt, 1);
        assert_eq!(
            claimed.dependents,
            [dependent(p, 0, 0, 2)],
            "neither the failure nor the cancellation released the parent"
        );
    }
    assert_eq!(complete_element(&*store, &again[0]).await, None);
    assert_eq!(get_task(&*store, p).await.status, Pending);
    assert_eq!(complete_element(&*store, &again[1]).await, None);
    let outputs = join(&*store, p, 5, "after the retry").await;
    assert_completed(
        &*store,
        &resumed,
        Some(outputs.clone()),
        ("task.completed", json!({"task_id": p, "output": outputs})),
    )
    .await;
}

/// p → z, p fanning out to 4 elements 2 at a time, one element running, one queued, two
/// pending: the decided cancel cancels the workflow, its tasks and every element, leases
/// cleared; nothing is claimable, and the running element's heartbeat, late completion and
/// retry are refused, changing nothing.
pub async fn cancelling_cancels_the_elements<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = workflow(
        UserId::generate(),
        "cancelled fan-out",
        vec![fan_out("p", Some(2)), transform(Some("z"))],
    );
    create_started(&*store, &new).await;
    let [p, z] = ids(&new);
    let parent = claim_exactly(&*store, "w", &[p]).await.remove(0);
    let (e, _) = expand(&*store, &parent, items(4), Some(2), None).await;
    let running = claim_one(&*store, "w").await;
    assert!(e[..2].contains(&running.task.id), "a queued element");
    assert_eq!(
        statuses_of(&*store, &e)
            .await
            .iter()
            .filter(|s| **s == Running)
            .count(),
        1
    );

    let cancel = get_workflow(&*store, new.id())
        .await
        .cancel()
        .expect("a running workflow can be cancelled");
    store.apply_transition(&cancel).await.unwrap();
    let cancelled = get_workflow(&*store, new.id()).await;
    assert_eq!(cancelled.status, WorkflowStatus::Cancelled);
    assert_eq!(
        cancelled
            .tasks
            .iter()
            .map(|t| (t.id, t.status))
            .collect::<Vec<_>>(),
        [(p, Cancelled), (z, Cancelled)]
    );
    for (i, element) in tasks_of(&*store, &e).await.iter().enumerate() {
        assert_eq!(element.status, Cancelled, "element {i} is cancelled");
        assert_eq!(element.lease_owner, None, "element {i}'s lease is cleared");
        assert_eq!(element.lease_expires_at, None);
    }
    assert!(claim(&*store, "w", 5).await.is_empty(), "nothing to claim");

    let before = (
        snapshot(&*store, new.id()).await,
        tasks_of(&*store, &e).await,
    );
    assert!(!store.heartbeat(&running, LONG_LEASE).await.unwrap());
    assert_eq!(
        store
            .apply_step(&completed(&running, json!({"late": true})))
            .await
            .unwrap(),
        StepApplied::Lost,
        "the cancelled element's late completion is lost"
    );
    let retry = StepCommit::failed(
        &running,
        None,
        &TaskError::retryable("http", "late"),
        Some(std::time::Duration::ZERO),
        Fence::Held,
    );
    assert_eq!(store.apply_step(&retry).await.unwrap(), StepApplied::Lost);
    let after = (
        snapshot(&*store, new.id()).await,
        tasks_of(&*store, &e).await,
    );
    assert_eq!(after, before, "nothing changed");
}

/// A completed fan-out and a failed one (elements completed, failed, cancelled and pending)
/// are deleted: their tasks and every element are gone (`get_task`, `list_tasks`), and the
/// elements of another workflow are untouched.
pub async fn deleting_a_workflow_deletes_its_elements<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();

    let (done, parent) = fanning_out(&*store, owner, "done", None).await;
    let (done_elements, _) = expand(&*store, &parent, items(3), None, None).await;
    for claimed in claim_exactly(&*store, "w", &done_elements).await {
        complete_element(&*store, &claimed).await;
    }
    join(&*store, parent.task.id, 3, "the completed fan-out").await;
    assert_eq!(
        get_workflow(&*store, done.id()).await.status,
        WorkflowStatus::Completed
    );

    let (broken, parent) = fanning_out(&*store, owner, "broken", Some(2)).await;
    let (broken_elements, _) = expand(&*store, &parent, items(4), Some(2), None).await;
    let claims = claim_exactly(&*store, "w", &broken_elements[..2]).await;
    complete_element(&*store, &claims[0]).await;
    let step = StepCommit::failed(
        &claims[1],
        None,
        &TaskError::permanent("http", "500"),
        None,
        Fence::Held,
    );
    apply(&*store, &step).await;
    assert_eq!(
        statuses_of(&*store, &broken_elements).await,
        [Completed, Failed, Cancelled, Pending],
        "precondition: elements of every status"
    );

    let (kept, parent) = fanning_out(&*store, owner, "kept", None).await;
    let (kept_elements, _) = expand(&*store, &parent, items(3), None, None).await;
    let kept_tasks = tasks_of(&*store, &kept_elements).await;

    let mut gone = Vec::new();
    for new in [&done, &broken] {
        let read = get_workflow(&*store, new.id()).await;
        store
            .apply_edit(&read.delete(Some(read.version)).unwrap())
            .await
            .unwrap();
        assert_not_found(
            store.get_workflow(Scope::All, new.id()).await,
            "a deleted workflow",
        );
        gone.extend(read.tasks.iter().map(|t| t.id));
    }
    gone.extend(done_elements.iter().chain(&broken_elements).copied());
    for id in &gone {
        assert_not_found(
            store.get_task(Scope::All, *id).await,
            "a deleted workflow's task or element",
        );
    }
    for parent in [done.tasks()[0].id(), broken.tasks()[0].id()] {
        match store.element_results(parent).await {
            Ok(results) => assert_eq!(results, [], "a deleted parent has no elements"),
            Err(StoreError::NotFound(_)) => {}
            Err(err) => panic!("the elements of a deleted parent: {err}"),
        }
    }
    let listed: Vec<Task> = store
        .list_tasks(Scope::All, TaskFilter::default(), page(100, None))
        .await
        .unwrap()
        .items;
    let deleted = [done.id(), broken.id()];
    assert!(
        listed.iter().all(|t| !deleted.contains(&t.workflow_id)),
        "list_tasks lists nothing of the deleted workflows: {listed:?}"
    );
    let mut left: Vec<TaskId> = listed.iter().map(|t| t.id).collect();
    left.sort();
    let mut expected = kept_elements.clone();
    expected.push(kept.tasks()[0].id());
    expected.sort();
    assert_eq!(
        left, expected,
        "the other workflow's task and elements stay"
    );
    assert_eq!(
        tasks_of(&*store, &kept_elements).await,
        kept_tasks,
        "untouched"
    );
}
