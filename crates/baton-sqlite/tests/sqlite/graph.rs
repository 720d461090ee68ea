//! What the start wires, guarded: a start decided from tasks that changed since applies
//! nothing.

use baton_conformance::support::{create, get_workflow, transform, transforms};
use baton_domain::ports::{StoreError, WorkflowStore};
use baton_domain::{NewTask, UserId, WorkflowStatus};

use crate::fresh;

/// A start wires exactly the tasks it was decided from: with a task added or deleted since,
/// it is `Stale` and the workflow stays pending, as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_start_decided_before_an_edit_is_stale() {
    let (store, _dir) = fresh().await;
    let new = transforms(UserId::generate(), "edited", 2);
    create(&store, &new).await;
    let read = get_workflow(&store, new.id()).await;
    let start = read.start().unwrap();

    let task = NewTask::new(transform(Some("late"))).unwrap();
    store
        .apply_edit(&read.add_task(task, None).unwrap())
        .await
        .unwrap();
    let added = get_workflow(&store, new.id()).await;
    match store.apply_transition(&start).await {
        Err(StoreError::Stale("workflow")) => {}
        other => panic!("expected Stale, got {other:?}"),
    }
    assert_eq!(
        get_workflow(&store, new.id()).await,
        added,
        "nothing changed"
    );

    let removed = added.tasks[0].id;
    store
        .apply_edit(&added.delete_task(added.tasks[2].id, None).unwrap())
        .await
        .unwrap();
    let edited = get_workflow(&store, new.id()).await;
    store
        .apply_edit(&edited.delete_task(removed, None).unwrap())
        .await
        .unwrap();
    let task = NewTask::new(transform(Some("other"))).unwrap();
    let edited = get_workflow(&store, new.id()).await;
    store
        .apply_edit(&edited.add_task(task, None).unwrap())
        .await
        .unwrap();
    let replaced = get_workflow(&store, new.id()).await;
    assert_eq!(
        replaced.tasks.len(),
        2,
        "as many tasks, one of them another"
    );
    match store.apply_transition(&start).await {
        Err(StoreError::Stale("workflow")) => {}
        other => panic!("expected Stale, got {other:?}"),
    }
    assert_eq!(
        get_workflow(&store, new.id()).await,
        replaced,
        "nothing changed"
    );

    store
        .apply_transition(&replaced.start().unwrap())
        .await
        .unwrap();
    let started = get_workflow(&store, new.id()).await;
    assert_eq!(started.status, WorkflowStatus::Running);
}
