//! The event log: complete, in commit order, with strictly increasing ids per workflow.

use baton_domain::ports::EventLog;
use baton_domain::{CarryOn, EventKind, NewEvent, StepCommit, UserId, WorkflowId};
use serde_json::json;

use crate::support::{LONG_LEASE, apply, claim_one, events_of, started, types};
use crate::{ConformantStore, StoreFactory};

/// Drives a started three-task workflow to completion through `claim` and `apply_step` (the
/// second step carrying on to the third), with a held delta during the first attempt.
async fn run_three_tasks<S: ConformantStore>(store: &S) -> (WorkflowId, Vec<baton_domain::TaskId>) {
    let new = started(store, UserId::generate(), 3).await;
    let ids: Vec<_> = new.tasks().iter().map(|t| t.id()).collect();
    let first = claim_one(store, "w").await;
    let delta = NewEvent::new(
        new.id(),
        EventKind::TaskDelta {
            task_id: first.task.id,
            attempt: first.task.attempt,
            text: "hel".into(),
        },
    );
    assert!(store.append_held(&first, &delta).await.unwrap());
    apply(
        store,
        &StepCommit::completed(&first, json!({}), json!({"out": 0}), None, None),
    )
    .await;
    let second = claim_one(store, "w").await;
    let carry = CarryOn {
        worker: "carrier".into(),
        lease: LONG_LEASE,
    };
    let third = apply(
        store,
        &StepCommit::completed(&second, json!({}), json!({"out": 1}), None, Some(&carry)),
    )
    .await
    .expect("carried on to the third task");
    apply(
        store,
        &StepCommit::completed(&third, json!({}), json!({"out": 2}), None, None),
    )
    .await;
    (new.id(), ids)
}

/// Every event of a run, in the order the changes were committed, with its payload; no event
/// of another workflow; ids strictly increasing; `last_event_id` is the last one (0 for none).
pub async fn events_are_complete_and_in_commit_order<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let bystander = started(&*store, UserId::generate(), 1).await;
    let claim = claim_one(&*store, "w").await;
    assert_eq!(claim.task.workflow_id, bystander.id());
    apply(
        &*store,
        &StepCommit::completed(&claim, json!({}), json!({}), None, None),
    )
    .await;
    let (id, t) = run_three_tasks(&*store).await;
    let events = events_of(&*store, id).await;

    assert_eq!(
        types(&events),
        [
            "workflow.started",
            "task.started",
            "task.delta",
            "task.completed",
            "task.started",
            "task.completed",
            "task.started",
            "task.completed",
            "workflow.completed",
        ]
    );
    let data: Vec<_> = events.iter().map(|e| e.data.clone()).collect();
    assert_eq!(
        data,
        [
            json!({}),
            json!({"task_id": t[0], "attempt": 1, "worker": "w"}),
            json!({"task_id": t[0], "attempt": 1, "text": "hel"}),
            json!({"task_id": t[0], "output": {"out": 0}}),
            json!({"task_id": t[1], "attempt": 1, "worker": "w"}),
            json!({"task_id": t[1], "output": {"out": 1}}),
            json!({"task_id": t[2], "attempt": 1, "worker": "carrier"}),
            json!({"task_id": t[2], "output": {"out": 2}}),
            json!({"output": {"out": 2}}),
        ]
    );
    assert!(
        events.iter().all(|e| e.workflow_id == id),
        "only this workflow's events"
    );
    assert!(
        events.windows(2).all(|w| w[0].id < w[1].id),
        "ids strictly increasing: {:?}",
        events.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert!(events.last().unwrap().is_terminal());
    assert_eq!(
        store.last_event_id(id).await.unwrap(),
        events.last().unwrap().id
    );
    assert_eq!(
        store.last_event_id(WorkflowId::generate()).await.unwrap(),
        0
    );
    assert!(
        store
            .events_after(WorkflowId::generate(), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        types(&events_of(&*store, bystander.id()).await),
        [
            "workflow.started",
            "task.started",
            "task.completed",
            "workflow.completed"
        ],
        "another workflow's events are its own"
    );
}

/// `events_after(id)` is exactly the events after `id`, oldest first, at most `limit`.
pub async fn events_after_gives_exactly_the_suffix<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let (id, _) = run_three_tasks(&*store).await;
    let events = events_of(&*store, id).await;
    assert_eq!(events.len(), 9);

    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            store.events_after(id, event.id, 100).await.unwrap(),
            events[i + 1..],
            "the suffix after event {i}"
        );
    }
    assert_eq!(store.events_after(id, 0, 3).await.unwrap(), events[..3]);
    let mid = events[3].id;
    assert_eq!(store.events_after(id, mid, 2).await.unwrap(), events[4..6]);
    assert_eq!(
        store.events_after(id, mid - 1, 100).await.unwrap(),
        events[3..]
    );
    assert!(
        store
            .events_after(id, store.last_event_id(id).await.unwrap(), 100)
            .await
            .unwrap()
            .is_empty()
    );
}
