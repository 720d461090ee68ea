//! A batch of steps is one statement (`baton_apply_steps`), and it takes every kind of
//! argument a step has as the single step does: a successor claimed under its decided token,
//! a retry's delay and error, a park's wake time, a `then_claim` of another workflow's task.

use crate::support;

use baton_conformance::support::{
    LONG_LEASE, claim_one, create_started, get_task, get_workflow, started, workflow,
};
use baton_domain::ports::TaskQueue;
use baton_domain::{
    CarryOn, Fence, StepApplied, StepCommit, TaskDraft, TaskError, TaskStatus, UserId,
    WorkflowStatus,
};
use chrono::Utc;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_one_statement_and_applies_every_kind_of_step() {
    if !support::available().await {
        return;
    }
    let (store, _database) = support::fresh_store().await;
    let owner = UserId::generate();
    let carry = CarryOn {
        worker: "carrier".into(),
        lease: LONG_LEASE,
    };
    let two = started(&store, owner, 2).await;
    let retried = started(&store, owner, 1).await;
    let sleep = TaskDraft {
        task_type: "sleep".into(),
        input: Some(json!({"for_ms": 60_000})),
        ..TaskDraft::default()
    };
    let sleeper = workflow(owner, "sleeps", vec![sleep]);
    create_started(&store, &sleeper).await;
    let first = claim_one(&store, "w").await;
    let to_retry = claim_one(&store, "w").await;
    let to_park = claim_one(&store, "w").await;
    assert_eq!(
        [
            first.task.workflow_id,
            to_retry.task.workflow_id,
            to_park.task.workflow_id
        ],
        [two.id(), retried.id(), sleeper.id()]
    );
    let waiting = started(&store, owner, 1).await;

    let carried = StepCommit::completed(&first, json!({}), json!({"n": 1}), None, Some(&carry));
    let error = TaskError::retryable("http", "try again");
    let retry = StepCommit::failed(
        &to_retry,
        None,
        &error,
        Some(std::time::Duration::from_secs(60)),
        Fence::Held,
    );
    let until = Utc::now() + chrono::Duration::minutes(5);
    let park = StepCommit::parked(&to_park, json!({}), Some(until), None, true, Some(&carry));
    let before = store.statements_executed();
    let answers = store.apply_steps(&[&carried, &retry, &park]).await;
    assert_eq!(
        store.statements_executed() - before,
        1,
        "one statement for the batch: {answers:?}"
    );

    let Ok(StepApplied::Applied { next: Some(next) }) = &answers[0] else {
        panic!("the successor is claimed: {:?}", answers[0]);
    };
    assert_eq!(next.task.id, two.tasks()[1].id());
    assert_eq!(next.task.status, TaskStatus::Running);
    assert!(matches!(
        answers[1],
        Ok(StepApplied::Applied { next: None })
    ));
    let Ok(StepApplied::Applied { next: Some(other) }) = &answers[2] else {
        panic!("the park takes another workflow's task: {:?}", answers[2]);
    };
    assert_eq!(other.task.workflow_id, waiting.id());

    let queued = get_task(&store, to_retry.task.id).await;
    assert_eq!(queued.status, TaskStatus::Queued);
    assert_eq!(
        queued.error.as_ref().map(|e| e["kind"].clone()),
        Some(json!("http"))
    );
    let available = queued.available_at.expect("a retry time");
    assert!(available > Utc::now() + chrono::Duration::seconds(50));
    let parked = get_task(&store, to_park.task.id).await;
    assert_eq!(parked.status, TaskStatus::Queued);
    let wake = parked.wake_at.expect("a wake time");
    assert!(
        (wake - until).num_milliseconds().abs() <= 1,
        "{wake} vs {until}"
    );
    assert_eq!(get_workflow(&store, two.id()).await.current_position, 1);
    assert_eq!(
        get_workflow(&store, retried.id()).await.status,
        WorkflowStatus::Running
    );
}
