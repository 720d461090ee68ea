//! Decided edits apply only at the version they were decided from, bump it, and keep task
//! positions dense.

use baton_domain::ports::Scope;
use baton_domain::ports::WorkflowStore;
use baton_domain::{NewTask, TaskPatch, UserId, Workflow, WorkflowPatch};
use serde_json::json;

use crate::support::{
    assert_not_found, assert_stale, create, get_task, get_workflow, snapshot, transform, workflow,
};
use crate::{ConformantStore, StoreFactory};

/// The workflow's task keys by position, checking the positions are exactly 0..n.
fn keys(workflow: &Workflow) -> Vec<&str> {
    for (i, task) in workflow.tasks.iter().enumerate() {
        assert_eq!(
            task.position, i as i32,
            "positions are dense: {:?}",
            workflow.tasks
        );
    }
    workflow
        .tasks
        .iter()
        .map(|t| t.key.as_deref().unwrap_or(""))
        .collect()
}

fn task_id(workflow: &Workflow, key: &str) -> baton_domain::TaskId {
    workflow
        .tasks
        .iter()
        .find(|t| t.key.as_deref() == Some(key))
        .unwrap_or_else(|| panic!("a task keyed {key}"))
        .id
}

async fn applied<S: ConformantStore>(
    store: &S,
    before: &Workflow,
    edit: baton_domain::Edit,
) -> Workflow {
    store.apply_edit(&edit).await.expect("apply the edit");
    let after = get_workflow(store, before.id).await;
    assert!(
        after.version > before.version,
        "an applied edit bumps the version ({} -> {})",
        before.version,
        after.version
    );
    after
}

fn pending_with_abc(owner: UserId) -> baton_domain::NewWorkflow {
    workflow(
        owner,
        "editable",
        vec![
            transform(Some("a")),
            transform(Some("b")),
            transform(Some("c")),
        ],
    )
}

/// An edit decided at a version that is no longer current is `Stale` and changes nothing.
pub async fn stale_edits_change_nothing<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = pending_with_abc(UserId::generate());
    create(&*store, &new).await;
    let read = get_workflow(&*store, new.id()).await;

    let rename = read
        .patch(
            WorkflowPatch::new(Some("renamed".into()), None).unwrap(),
            None,
        )
        .unwrap();
    let add = read
        .add_task(NewTask::new(transform(Some("d"))).unwrap(), Some(0))
        .unwrap();
    let delete_task = read.delete_task(task_id(&read, "b"), None).unwrap();
    let delete = read.delete(None).unwrap();
    let renamed = applied(&*store, &read, rename.clone()).await;
    assert_eq!(renamed.name, "renamed");

    let before = snapshot(&*store, new.id()).await;
    for edit in [rename, add, delete_task, delete] {
        assert_stale(
            store.apply_edit(&edit).await,
            "an edit decided at an old version",
        );
    }
    assert_eq!(snapshot(&*store, new.id()).await, before, "nothing changed");
}

/// Renaming, adding, moving and deleting tasks each bump the version, and positions stay
/// 0..n in the decided order.
pub async fn edits_bump_the_version_and_keep_positions_dense<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = pending_with_abc(UserId::generate());
    create(&*store, &new).await;
    let read = get_workflow(&*store, new.id()).await;
    assert_eq!(keys(&read), ["a", "b", "c"]);

    let patch = WorkflowPatch::new(Some("renamed".into()), Some(json!({"x": 2}))).unwrap();
    let wf = applied(
        &*store,
        &read,
        read.patch(patch, Some(read.version)).unwrap(),
    )
    .await;
    assert_eq!(wf.name, "renamed");
    assert_eq!(wf.input, json!({"x": 2}));

    let d = NewTask::new(transform(Some("d"))).unwrap();
    let d_id = d.id();
    let wf = applied(&*store, &wf, wf.add_task(d, Some(1)).unwrap()).await;
    assert_eq!(keys(&wf), ["a", "d", "b", "c"]);
    assert_eq!(get_task(&*store, d_id).await.workflow_id, wf.id);

    let e = NewTask::new(transform(Some("e"))).unwrap();
    let wf = applied(&*store, &wf, wf.add_task(e, None).unwrap()).await;
    assert_eq!(keys(&wf), ["a", "d", "b", "c", "e"]);

    let a = task_id(&wf, "a");
    let a_version = get_task(&*store, a).await.version;
    let down = TaskPatch {
        title: Some("moved down".into()),
        position: Some(3),
        ..TaskPatch::default()
    };
    let wf = applied(
        &*store,
        &wf,
        wf.update_task(a, &down, Some(a_version)).unwrap(),
    )
    .await;
    assert_eq!(keys(&wf), ["d", "b", "c", "a", "e"]);
    let moved = get_task(&*store, a).await;
    assert_eq!(moved.title, "moved down");
    assert!(
        moved.version > a_version,
        "an updated task's version is bumped"
    );

    let e = task_id(&wf, "e");
    let up = TaskPatch {
        position: Some(0),
        ..TaskPatch::default()
    };
    let wf = applied(&*store, &wf, wf.update_task(e, &up, None).unwrap()).await;
    assert_eq!(keys(&wf), ["e", "d", "b", "c", "a"]);

    let c = task_id(&wf, "c");
    let retitle = TaskPatch {
        title: Some("in place".into()),
        ..TaskPatch::default()
    };
    let wf = applied(&*store, &wf, wf.update_task(c, &retitle, None).unwrap()).await;
    assert_eq!(keys(&wf), ["e", "d", "b", "c", "a"]);
    assert_eq!(get_task(&*store, c).await.title, "in place");

    let wf = applied(
        &*store,
        &wf,
        wf.delete_task(task_id(&wf, "d"), None).unwrap(),
    )
    .await;
    assert_eq!(keys(&wf), ["e", "b", "c", "a"]);
    assert_not_found(store.get_task(Scope::All, d_id).await, "a deleted task");
    let first = task_id(&wf, "e");
    let wf = applied(&*store, &wf, wf.delete_task(first, None).unwrap()).await;
    assert_eq!(keys(&wf), ["b", "c", "a"]);
    let last = task_id(&wf, "a");
    let wf = applied(&*store, &wf, wf.delete_task(last, None).unwrap()).await;
    assert_eq!(keys(&wf), ["b", "c"]);
}

/// A decided delete removes the workflow and its tasks; edits of the missing workflow are
/// `NotFound`.
pub async fn deleting_a_workflow_removes_its_tasks<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let new = pending_with_abc(UserId::generate());
    create(&*store, &new).await;
    let read = get_workflow(&*store, new.id()).await;
    let rename = read
        .patch(
            WorkflowPatch::new(Some("too late".into()), None).unwrap(),
            None,
        )
        .unwrap();
    store
        .apply_edit(&read.delete(Some(read.version)).unwrap())
        .await
        .unwrap();
    assert_not_found(
        store.get_workflow(Scope::All, new.id()).await,
        "a deleted workflow",
    );
    for task in &read.tasks {
        assert_not_found(
            store.get_task(Scope::All, task.id).await,
            "a deleted workflow's task",
        );
    }
    assert_not_found(
        store.apply_edit(&read.delete(None).unwrap()).await,
        "deleting it again",
    );
    assert_not_found(
        store.apply_edit(&rename).await,
        "renaming a deleted workflow",
    );
}
