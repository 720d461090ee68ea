//! Retry times are the store's clock plus the decided delay, filled into `task.retrying`.

use std::time::Duration;

use baton_domain::{Fence, StepCommit, TaskError, TaskStatus, UserId, WorkflowStatus};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{apply, claim, events_of, get_task, get_workflow, started};

/// A retry an hour away leaves the task queued but not claimable, its `available_at` an hour
/// after the store's time of the step; a retry in zero time is claimable at once. Each
/// `task.retrying` event carries the retry time the store chose as `retry_at`.
pub async fn retry_times_are_kept_by_the_store_clock<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let later = started(&*store, owner, 1).await;
    let now = started(&*store, owner, 1).await;
    let claims = claim(&*store, "w", 2).await;
    assert_eq!(claims.len(), 2);
    let (later_claim, now_claim) = if claims[0].task.workflow_id == later.id() {
        (&claims[0], &claims[1])
    } else {
        (&claims[1], &claims[0])
    };
    let error = TaskError::retryable("http", "503 Service Unavailable");

    let step = StepCommit::failed(
        later_claim,
        Some(json!({"url": "https://example.test"})),
        &error,
        Some(Duration::from_secs(3_600)),
        Fence::Held,
    );
    assert_eq!(apply(&*store, &step).await, None);
    let task = get_task(&*store, later_claim.task.id).await;
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!(task.attempt, 1, "the failed attempt counts");
    assert_eq!(task.lease_owner, None);
    assert_eq!(task.error, Some(error.to_json(1)));
    assert_eq!(
        task.resolved_input,
        Some(json!({"url": "https://example.test"}))
    );
    let available_at = task.available_at.expect("a retry time");
    let delay = available_at - task.updated_at;
    assert!(
        (delay - chrono::Duration::hours(1)).num_seconds().abs() <= 5,
        "retry an hour after the step by the store's clock, got {delay}"
    );
    assert!(
        claim(&*store, "w", 2).await.is_empty(),
        "a task whose retry time has not come is not claimable"
    );
    let retrying = events_of(&*store, later.id()).await.pop().unwrap();
    assert_eq!(retrying.event_type, "task.retrying");
    assert_eq!(retrying.data["task_id"], json!(later_claim.task.id));
    assert_eq!(retrying.data["attempt"], json!(1));
    assert_eq!(retrying.data["error"], error.to_json(1));
    let retry_at = parse_retry_at(&retrying.data);
    assert!(
        (retry_at - available_at).num_milliseconds().abs() <= 1,
        "retry_at {retry_at} is the task's retry time {available_at}"
    );
    let workflow = get_workflow(&*store, later.id()).await;
    assert_eq!(
        workflow.status,
        WorkflowStatus::Running,
        "a retry keeps it running"
    );
    assert_eq!(workflow.error, None);

    let step = StepCommit::failed(now_claim, None, &error, Some(Duration::ZERO), Fence::Held);
    assert_eq!(apply(&*store, &step).await, None);
    let retrying = events_of(&*store, now.id()).await.pop().unwrap();
    assert_eq!(retrying.event_type, "task.retrying");
    let retry_at = parse_retry_at(&retrying.data);
    let again = claim(&*store, "w", 2).await;
    assert_eq!(
        again.iter().map(|c| c.task.id).collect::<Vec<_>>(),
        [now_claim.task.id],
        "a retry in zero time is claimable at once, the other one is not"
    );
    assert_eq!(again[0].task.attempt, 2);
    assert!(
        retry_at <= again[0].task.updated_at,
        "a zero delay retries at the step's time {retry_at}, before the claim {}",
        again[0].task.updated_at
    );
}

fn parse_retry_at(data: &serde_json::Value) -> DateTime<Utc> {
    let text = data["retry_at"]
        .as_str()
        .unwrap_or_else(|| panic!("task.retrying carries retry_at as a string: {data}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|err| panic!("retry_at {text:?} is an RFC 3339 time: {err}"))
        .with_timezone(&Utc)
}
