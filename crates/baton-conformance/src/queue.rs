//! How the queue stands: runnable tasks are counted, parked and delayed ones are not, and the
//! oldest's wait is by the store's clock.

use std::time::Duration;

use baton_domain::ports::TaskQueue;
use baton_domain::{Fence, StepCommit, TaskError, UserId};

use crate::StoreFactory;
use crate::support::{apply, claim_one, create, started, transforms};

/// An empty queue counts nothing; two started workflows' first tasks are runnable; a claimed
/// task and a retry delayed an hour leave the count; a workflow not started never enters it.
pub async fn queue_stats_count_the_runnable_tasks_and_the_oldest<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let empty = store.queue_stats().await.unwrap();
    assert_eq!(empty.depth, 0);
    assert_eq!(empty.oldest_runnable_since, None);
    assert_eq!(empty.oldest_wait(), Duration::ZERO);

    let owner = UserId::generate();
    create(&*store, &transforms(owner, "not started", 3)).await;
    started(&*store, owner, 2).await;
    started(&*store, owner, 2).await;
    let two = store.queue_stats().await.unwrap();
    assert_eq!(
        two.depth, 2,
        "the first task of each started workflow: {two:?}"
    );
    let since = two.oldest_runnable_since.expect("the oldest's time");
    let now = two.counted_at.expect("the store's time");
    assert!(since <= now, "{two:?}");

    let running = claim_one(&*store, "w").await;
    assert_eq!(
        store.queue_stats().await.unwrap().depth,
        1,
        "claimed: not queued"
    );
    let error = TaskError::retryable("http", "try later");
    let step = StepCommit::failed(
        &running,
        None,
        &error,
        Some(Duration::from_secs(3_600)),
        Fence::Held,
    );
    apply(&*store, &step).await;
    let after = store.queue_stats().await.unwrap();
    assert_eq!(
        after.depth, 1,
        "a retry an hour away is not runnable: {after:?}"
    );
}
