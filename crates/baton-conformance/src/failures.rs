//! Failing for good, and resuming a failed workflow with a decided retry.

use baton_domain::ports::WorkflowStore;
use baton_domain::{Effect, Fence, StepCommit, TaskError, TaskStatus, UserId, WorkflowStatus};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{apply, claim_one, events_of, get_workflow, started, types};

/// A step failed with no retry fails the task and the workflow (errors set, `task.failed` and
/// `workflow.failed` appended). The decided `Workflow::retry()` then re-queues only the failed
/// task, its attempts reset to 0, and leaves completed work alone.
pub async fn failing_for_good_fails_the_workflow_and_retry_requeues_it<F: StoreFactory>(
    factory: &F,
) {
    let store = factory.store().await;
    let new = started(&*store, UserId::generate(), 3).await;
    let ids: Vec<_> = new.tasks().iter().map(|t| t.id()).collect();

    let first = claim_one(&*store, "w").await;
    let step = StepCommit::completed(&first, json!({}), json!({"out": 0}), None, None);
    apply(&*store, &step).await;
    let second = claim_one(&*store, "w").await;
    assert_eq!(second.task.id, ids[1]);
    let error = TaskError::permanent("http", "404 Not Found");
    let step = StepCommit::failed(
        &second,
        Some(json!({"url": "https://example.test/missing"})),
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
            "task_id": ids[1],
            "position": 1,
            "key": "t1",
            "kind": "http",
            "message": "404 Not Found",
        }))
    );
    let [done, broken, untouched] = &failed.tasks[..] else {
        panic!("three tasks")
    };
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(broken.status, TaskStatus::Failed);
    assert_eq!(broken.error, Some(error.to_json(1)));
    assert_eq!(broken.attempt, 1);
    assert_eq!(broken.lease_owner, None);
    assert!(broken.finished_at.is_some());
    assert_eq!(
        broken.resolved_input,
        Some(json!({"url": "https://example.test/missing"}))
    );
    assert_eq!(untouched.status, TaskStatus::Pending);
    let events = events_of(&*store, new.id()).await;
    let tail = &events[events.len() - 2..];
    assert_eq!(types(tail), ["task.failed", "workflow.failed"]);
    assert_eq!(
        tail[0].data,
        json!({"task_id": ids[1], "error": error.to_json(1)})
    );
    assert_eq!(
        tail[1].data,
        json!({"error": failed.error.clone().unwrap()})
    );

    let retry = failed.retry().expect("a failed workflow can be retried");
    assert_eq!(
        retry.effect,
        Effect::Retry {
            requeue: vec![ids[1]]
        }
    );
    store.apply_transition(&retry).await.unwrap();
    let resumed = get_workflow(&*store, new.id()).await;
    assert_eq!(resumed.status, WorkflowStatus::Running);
    assert_eq!(resumed.error, None);
    assert_eq!(resumed.finished_at, None);
    let [done, requeued, untouched] = &resumed.tasks[..] else {
        panic!("three tasks")
    };
    assert_eq!(done.status, TaskStatus::Completed, "completed work is kept");
    assert_eq!(done.output, Some(json!({"out": 0})));
    assert_eq!(requeued.status, TaskStatus::Queued);
    assert_eq!(requeued.attempt, 0, "a fresh attempt budget");
    assert_eq!(untouched.status, TaskStatus::Pending);
    let last = events_of(&*store, new.id()).await.pop().unwrap();
    assert_eq!(last.event_type, "workflow.started");
    assert_eq!(last.data, json!({"retry": true}));

    let again = claim_one(&*store, "w").await;
    assert_eq!(again.task.id, ids[1]);
    assert_eq!(again.task.attempt, 1);
}
