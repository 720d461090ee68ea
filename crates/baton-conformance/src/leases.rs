//! Leases by the store's clock: expiry, the reaper's fence, heartbeats and releases.

use baton_domain::ports::TaskQueue;
use std::time::Duration;

use baton_domain::{Fence, LeaseToken, StepApplied, StepCommit, TaskError, TaskStatus, UserId};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    LONG_LEASE, apply, claim, claim_one, events_of, get_task, snapshot, started, types, wait_until,
};

fn lease_expired() -> TaskError {
    TaskError::retryable("lease_expired", "the worker stopped renewing its lease")
}

/// A task claimed under a 1 ms lease is reported by `expired()` once the lease has passed, as
/// a claim under the same token; the reaper's step (`Fence::Expired`) then applies and
/// re-queues it.
pub async fn expired_leases_are_reported_and_reaped<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = started(&*store, owner, 1).await;
    let held = started(&*store, owner, 1).await;
    let tokens = [LeaseToken::new("gone")];
    let claims = store
        .claim(&tokens, Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    assert_eq!(claim.task.id, new.tasks()[0].id());
    let other = claim_one(&*store, "alive").await;
    assert_eq!(other.task.id, held.tasks()[0].id());

    let task_id = claim.task.id;
    wait_until("the 1 ms lease has expired", || async {
        store
            .expired(10)
            .await
            .unwrap()
            .iter()
            .any(|c| c.task.id == task_id)
    })
    .await;
    let expired = store.expired(10).await.unwrap();
    assert_eq!(expired.len(), 1, "only the expired lease: {expired:?}");
    let reaped = &expired[0];
    assert_eq!(reaped.token, claim.token);
    assert_eq!(reaped.task.status, TaskStatus::Running);
    assert_eq!(reaped.task.attempt, 1);
    assert!(
        store.expired(0).await.unwrap().is_empty(),
        "at most `limit`"
    );

    let step = StepCommit::failed(
        reaped,
        None,
        &lease_expired(),
        Some(Duration::ZERO),
        Fence::Expired,
    );
    assert_eq!(apply(&*store, &step).await, None);
    let task = get_task(&*store, task_id).await;
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!(task.lease_owner, None);
    assert_eq!(task.attempt, 1, "the expired attempt counts");
    assert_eq!(
        types(&events_of(&*store, new.id()).await),
        ["workflow.started", "task.started", "task.retrying"]
    );
    assert!(store.expired(10).await.unwrap().is_empty());

    let again = claim_one(&*store, "w").await;
    assert_eq!(again.task.id, task_id);
    assert_eq!(again.task.attempt, 2);
    assert_eq!(
        store.apply_step(&step).await.unwrap(),
        StepApplied::Lost,
        "the old token lost the task to the new claim"
    );
}

/// `Fence::Expired` requires the lease to have expired: under a live lease the reaper's step
/// is `Lost` and changes nothing.
pub async fn the_expired_fence_needs_an_expired_lease<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = started(&*store, UserId::generate(), 1).await;
    let claim = claim_one(&*store, "w").await;
    assert!(store.expired(10).await.unwrap().is_empty());
    let before = snapshot(&*store, new.id()).await;

    for retry_in in [Some(Duration::ZERO), None] {
        let step = StepCommit::failed(&claim, None, &lease_expired(), retry_in, Fence::Expired);
        assert_eq!(store.apply_step(&step).await.unwrap(), StepApplied::Lost);
    }
    assert_eq!(snapshot(&*store, new.id()).await, before, "nothing changed");
    let step = StepCommit::completed(&claim, json!({}), json!({"done": true}), None, None);
    assert_eq!(
        apply(&*store, &step).await,
        None,
        "the holder's own step applies"
    );
}

/// A heartbeat extends a held lease (by the store's clock) and answers `true`; once the task
/// is finished it answers `false`.
pub async fn heartbeat_extends_a_held_lease<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    started(&*store, UserId::generate(), 1).await;
    let tokens = [LeaseToken::new("w")];
    let claim = store
        .claim(&tokens, Duration::from_secs(60))
        .await
        .unwrap()
        .remove(0);
    let first = get_task(&*store, claim.task.id)
        .await
        .lease_expires_at
        .expect("a lease");

    assert!(
        store
            .heartbeat(&claim, Duration::from_secs(3_600))
            .await
            .unwrap()
    );
    let extended = get_task(&*store, claim.task.id)
        .await
        .lease_expires_at
        .expect("a lease");
    assert!(
        extended - first >= chrono::Duration::minutes(58),
        "a one-hour heartbeat moves a one-minute lease about 59 minutes later: {first} -> {extended}"
    );
    assert!(store.expired(10).await.unwrap().is_empty());

    let step = StepCommit::completed(&claim, json!({}), json!({}), None, None);
    apply(&*store, &step).await;
    assert!(
        !store.heartbeat(&claim, LONG_LEASE).await.unwrap(),
        "a finished task's lease is gone"
    );
}

/// `release` hands a task back at once without counting the attempt; the released token has
/// lost the task.
pub async fn release_requeues_without_counting_the_attempt<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = started(&*store, UserId::generate(), 1).await;
    let first = claim_one(&*store, "stopping").await;
    assert_eq!(first.task.attempt, 1);

    assert!(store.release(&first).await.unwrap());
    let task = get_task(&*store, first.task.id).await;
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!(task.attempt, 0, "the released attempt does not count");
    assert_eq!(task.lease_owner, None);

    let second = claim_one(&*store, "next").await;
    assert_eq!(second.task.id, first.task.id, "claimable again at once");
    assert_eq!(second.task.attempt, 1);
    assert!(
        !store.release(&first).await.unwrap(),
        "the old lease is lost"
    );
    assert!(!store.heartbeat(&first, LONG_LEASE).await.unwrap());
    let step = StepCommit::completed(&first, json!({}), json!({}), None, None);
    assert_eq!(store.apply_step(&step).await.unwrap(), StepApplied::Lost);
    assert!(store.heartbeat(&second, LONG_LEASE).await.unwrap());
    assert!(claim(&*store, "w", 1).await.is_empty());
    let started_events = events_of(&*store, new.id())
        .await
        .into_iter()
        .filter(|e| e.event_type == "task.started")
        .count();
    assert_eq!(started_events, 2, "one task.started per claim");
}
