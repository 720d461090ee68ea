//! Decided status changes apply only from the status they were decided from.

use baton_domain::ports::WorkflowStore;
use baton_domain::{TaskStatus, UserId, WorkflowStatus};

use crate::StoreFactory;
use crate::support::{
    assert_not_found, assert_stale, create, get_workflow, snapshot, transforms, types,
};

/// A transition whose `from` is no longer the workflow's status is `Stale` and changes
/// nothing; one decided from the current status applies.
pub async fn transitions_apply_only_from_their_status<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = transforms(UserId::generate(), "guarded", 2);
    create(&*store, &new).await;
    let pending = get_workflow(&*store, new.id()).await;
    let start = pending.start().unwrap();
    let cancel_pending = pending.cancel().unwrap();

    store.apply_transition(&start).await.unwrap();
    let running = snapshot(&*store, new.id()).await;
    assert_eq!(running.workflow.status, WorkflowStatus::Running);
    assert!(running.workflow.started_at.is_some());
    assert_eq!(running.workflow.current_position, 0);
    assert_eq!(running.workflow.tasks[0].status, TaskStatus::Queued);
    assert_eq!(running.workflow.tasks[1].status, TaskStatus::Pending);
    assert_eq!(types(&running.events), ["workflow.started"]);

    assert_stale(
        store.apply_transition(&cancel_pending).await,
        "a cancel decided while pending",
    );
    assert_stale(store.apply_transition(&start).await, "the same start again");
    assert_eq!(
        snapshot(&*store, new.id()).await,
        running,
        "nothing changed"
    );

    let cancel = running.workflow.cancel().unwrap();
    store.apply_transition(&cancel).await.unwrap();
    let cancelled = snapshot(&*store, new.id()).await;
    assert_eq!(cancelled.workflow.status, WorkflowStatus::Cancelled);
    assert_eq!(
        types(&cancelled.events),
        ["workflow.started", "workflow.cancelled"]
    );
    assert_stale(
        store.apply_transition(&cancel).await,
        "the same cancel again",
    );
    assert_eq!(
        snapshot(&*store, new.id()).await,
        cancelled,
        "nothing changed"
    );
}

/// A transition of a workflow that does not exist (never stored, or deleted since) is
/// `NotFound`.
pub async fn transitions_of_missing_workflows_are_not_found<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let never = transforms(owner, "never stored", 1);
    assert_not_found(
        store.apply_transition(&never.start().unwrap()).await,
        "starting a workflow never stored",
    );

    let new = transforms(owner, "deleted", 1);
    create(&*store, &new).await;
    let workflow = get_workflow(&*store, new.id()).await;
    let start = workflow.start().unwrap();
    store
        .apply_edit(&workflow.delete(None).unwrap())
        .await
        .unwrap();
    assert_not_found(
        store.apply_transition(&start).await,
        "starting a deleted workflow",
    );
    assert_not_found(
        store.apply_transition(&workflow.cancel().unwrap()).await,
        "cancelling a deleted workflow",
    );
}
