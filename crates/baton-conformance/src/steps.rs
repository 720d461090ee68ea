//! Completing the steps of a sequential workflow: the successor (its one dependent) is
//! claimed (with `CarryOn`) or queued, the last step completes the workflow, `then_claim`
//! picks up other work.

use baton_domain::ports::TaskQueue;
use baton_domain::{CarryOn, Dependent, StepCommit, TaskStatus, UserId, WorkflowStatus};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    LONG_LEASE, apply, claim, claim_one, events_of, get_task, get_workflow, started,
};

fn carry_on(worker: &str) -> CarryOn {
    CarryOn {
        worker: worker.into(),
        lease: LONG_LEASE,
    }
}

/// In a workflow without `depends_on`, each task's one dependent is the next task and the
/// last task's output is the workflow's. With a `CarryOn`, the step claims the successor under
/// the decided token and returns it; without, the successor is queued; the last step
/// completes the workflow with its output. Earlier steps are visible to `steps_before`.
pub async fn completing_a_step_carries_on_to_the_successor<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = started(&*store, UserId::generate(), 3).await;
    let ids: Vec<_> = new.tasks().iter().map(|t| t.id()).collect();

    let first = claim_one(&*store, "w").await;
    assert_eq!(first.task.id, ids[0]);
    assert_eq!(
        first.dependents,
        [Dependent {
            id: ids[1],
            position: 1,
            attempt: 0,
            waiting_on: 1,
            element_index: None,
        }],
        "the next task needs this one, and only this one"
    );
    assert_eq!(first.output_task, Some(ids[2]), "the last task's output");
    let carry = carry_on("carrier");
    let step = StepCommit::completed(
        &first,
        json!({"resolved": 0}),
        json!({"out": 0}),
        None,
        Some(&carry),
    );
    let decided = step
        .claim_task
        .as_ref()
        .expect("the successor is claimed")
        .1
        .token
        .clone();
    let second = apply(&*store, &step).await.expect("the successor's claim");
    assert_eq!(second.task.id, ids[1]);
    assert_eq!(second.token, decided, "under the decided token");
    assert_eq!(second.task.status, TaskStatus::Running);
    assert_eq!(second.task.attempt, 1);
    assert_eq!(second.task.lease_owner.as_deref(), Some(decided.as_str()));
    assert_eq!(
        second.dependents.iter().map(|d| d.id).collect::<Vec<_>>(),
        [ids[2]],
        "the claim knows what follows"
    );
    assert_eq!(second.output_task, Some(ids[2]));
    let done = get_task(&*store, ids[0]).await;
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.output, Some(json!({"out": 0})));
    assert_eq!(done.resolved_input, Some(json!({"resolved": 0})));
    assert_eq!(done.lease_owner, None);
    assert!(done.finished_at.is_some());
    let workflow = get_workflow(&*store, new.id()).await;
    assert_eq!(workflow.status, WorkflowStatus::Running);
    assert_eq!(workflow.current_position, 1);
    let started_event = events_of(&*store, new.id())
        .await
        .into_iter()
        .rfind(|e| e.event_type == "task.started")
        .unwrap();
    assert_eq!(
        started_event.data,
        json!({"task_id": ids[1], "attempt": 1, "worker": "carrier"})
    );
    assert!(store.heartbeat(&second, LONG_LEASE).await.unwrap());

    let step = StepCommit::completed(&second, json!({}), json!({"out": 1}), None, None);
    assert_eq!(apply(&*store, &step).await, None, "no CarryOn, no claim");
    let third = get_task(&*store, ids[2]).await;
    assert_eq!(third.status, TaskStatus::Queued, "the successor is queued");
    assert_eq!(third.attempt, 0);
    assert_eq!(get_workflow(&*store, new.id()).await.current_position, 2);

    let before = store.steps_before(new.id(), 2).await.unwrap();
    assert_eq!(
        before
            .iter()
            .map(|s| (s.position, s.key.as_deref(), s.status, s.output.clone()))
            .collect::<Vec<_>>(),
        [
            (
                0,
                Some("t0"),
                TaskStatus::Completed,
                Some(json!({"out": 0}))
            ),
            (
                1,
                Some("t1"),
                TaskStatus::Completed,
                Some(json!({"out": 1}))
            ),
        ]
    );

    let last = claim_one(&*store, "w").await;
    assert_eq!(last.task.id, ids[2]);
    assert_eq!(last.dependents, [], "nothing follows the last task");
    assert_eq!(last.output_task, Some(ids[2]));
    let step = StepCommit::completed(&last, json!({}), json!({"final": true}), None, None);
    assert_eq!(apply(&*store, &step).await, None);
    let workflow = get_workflow(&*store, new.id()).await;
    assert_eq!(workflow.status, WorkflowStatus::Completed);
    assert_eq!(workflow.output, Some(json!({"final": true})));
    assert_eq!(workflow.error, None);
    assert!(workflow.finished_at.is_some());
    assert!(
        workflow
            .tasks
            .iter()
            .all(|t| t.status == TaskStatus::Completed)
    );
}

/// Completing a workflow's last step with a `CarryOn` claims a queued task of another
/// workflow for the worker (`then_claim`), with its `task.started` event; with nothing
/// queued there is nothing to claim.
pub async fn then_claim_claims_a_task_of_another_workflow<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let one = started(&*store, owner, 1).await;
    let other = started(&*store, owner, 1).await;

    let first = claim_one(&*store, "w").await;
    assert_eq!(first.task.workflow_id, one.id(), "oldest first");
    let carry = carry_on("carrier");
    let step = StepCommit::completed(&first, json!({}), json!({"a": 1}), None, Some(&carry));
    let decided = step.then_claim.as_ref().expect("then_claim").token.clone();
    let next = apply(&*store, &step)
        .await
        .expect("another workflow's task");
    assert_eq!(next.task.workflow_id, other.id());
    assert_eq!(next.task.id, other.tasks()[0].id());
    assert_eq!(next.token, decided);
    assert_eq!(next.task.status, TaskStatus::Running);
    assert_eq!(next.task.attempt, 1);
    assert_eq!(next.task.lease_owner.as_deref(), Some(decided.as_str()));
    assert_eq!(
        get_workflow(&*store, one.id()).await.status,
        WorkflowStatus::Completed
    );
    let started_event = events_of(&*store, other.id())
        .await
        .into_iter()
        .rfind(|e| e.event_type == "task.started")
        .expect("a task.started event for then_claim");
    assert_eq!(
        started_event.data,
        json!({"task_id": next.task.id, "attempt": 1, "worker": "carrier"})
    );

    let step = StepCommit::completed(&next, json!({}), json!({"b": 2}), None, Some(&carry));
    assert_eq!(apply(&*store, &step).await, None, "nothing left to claim");
    assert_eq!(
        get_workflow(&*store, other.id()).await.status,
        WorkflowStatus::Completed
    );
    assert!(claim(&*store, "w", 1).await.is_empty());
}
