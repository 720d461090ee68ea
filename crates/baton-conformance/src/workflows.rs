//! Creating, reading and listing workflows and tasks, within the caller's scope.

use baton_domain::ports::WorkflowStore;
use baton_domain::ports::{PageRequest, Scope, TaskFilter, WorkflowFilter};
use baton_domain::{TaskStatus, TaskType, UserId, WorkflowId, WorkflowStatus};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    assert_not_found, create, create_started, events_of, get_workflow, transform, types, workflow,
};

/// A stored workflow reads back as it was described, its tasks in position order, through
/// `get_workflow`, `get_task`, `list_workflows` and `list_tasks`; absent ids are `NotFound`.
pub async fn create_get_list_round_trip<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(
        owner,
        "round trip",
        vec![transform(Some("a")), transform(Some("b")), transform(None)],
    );
    create(&*store, &new).await;

    let scope = Scope::Owner(owner);
    let got = store.get_workflow(scope, new.id()).await.unwrap();
    assert_eq!(got.id, new.id());
    assert_eq!(got.owner_id, owner);
    assert_eq!(got.name, "round trip");
    assert_eq!(got.status, WorkflowStatus::Pending);
    assert_eq!(got.input, json!({"name": "round trip"}));
    assert_eq!(got.output, None);
    assert_eq!(got.error, None);
    assert_eq!(got.started_at, None);
    assert_eq!(got.finished_at, None);
    assert_eq!(got.tasks.len(), 3);
    for (position, (task, described)) in got.tasks.iter().zip(new.tasks()).enumerate() {
        assert_eq!(task.id, described.id(), "tasks in position order");
        assert_eq!(task.position, position as i32);
        assert_eq!(task.workflow_id, new.id());
        assert_eq!(task.owner_id, owner);
        assert_eq!(task.key.as_deref(), described.key().map(|k| k.as_str()));
        assert_eq!(task.title, described.title().as_str());
        assert_eq!(task.task_type, TaskType::Transform);
        assert_eq!(task.input, json!({"jq": "."}));
        assert_eq!(&task.retry, described.retry());
        assert_eq!(task.timeout_ms, described.timeout_ms() as i64);
        assert_eq!(task.status, TaskStatus::Pending);
        assert_eq!(task.attempt, 0);
        assert_eq!(task.output, None);
        assert_eq!(task.lease_owner, None);
        assert_eq!(task.started_at, None);
    }
    assert_eq!(
        store.get_workflow(Scope::All, new.id()).await.unwrap(),
        got,
        "the owner and Scope::All read the same workflow"
    );
    for task in &got.tasks {
        assert_eq!(&store.get_task(scope, task.id).await.unwrap(), task);
    }

    let listed = store
        .list_workflows(scope, WorkflowFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![got.clone()]);
    assert_eq!(listed.next, None);

    let tasks = store
        .list_tasks(
            scope,
            TaskFilter {
                workflow_id: Some(new.id()),
                status: None,
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    let mut expected = got.tasks.clone();
    expected.sort_by_key(|t| std::cmp::Reverse(t.id));
    assert_eq!(tasks.items, expected, "tasks newest first");
    assert_eq!(tasks.next, None);

    assert_not_found(
        store.get_workflow(Scope::All, WorkflowId::generate()).await,
        "an unknown workflow",
    );
    assert_not_found(
        store
            .get_task(Scope::All, baton_domain::TaskId::generate())
            .await,
        "an unknown task",
    );
}

/// A workflow created with its decided start is running, its first task queued, with a
/// `workflow.started` event, all in the creating transaction; the filters see it.
pub async fn create_with_start_applies_the_start<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let pending = workflow(owner, "pending", vec![transform(None)]);
    create(&*store, &pending).await;
    let new = workflow(owner, "started", vec![transform(None), transform(None)]);
    create_started(&*store, &new).await;

    let got = get_workflow(&*store, new.id()).await;
    assert_eq!(got.status, WorkflowStatus::Running);
    assert!(got.started_at.is_some(), "started_at is set");
    assert_eq!(got.current_position, 0);
    assert_eq!(got.tasks[0].status, TaskStatus::Queued);
    assert!(got.tasks[0].available_at.is_some(), "queued now");
    assert_eq!(got.tasks[1].status, TaskStatus::Pending);
    let events = events_of(&*store, new.id()).await;
    assert_eq!(types(&events), ["workflow.started"]);
    assert_eq!(events[0].data, json!({}));
    assert_eq!(events[0].workflow_id, new.id());

    let scope = Scope::Owner(owner);
    let running = store
        .list_workflows(
            scope,
            WorkflowFilter {
                status: Some(WorkflowStatus::Running),
                ..WorkflowFilter::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(running.items, vec![got.clone()]);
    let pending_only = store
        .list_workflows(
            scope,
            WorkflowFilter {
                status: Some(WorkflowStatus::Pending),
                ..WorkflowFilter::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        pending_only.items.iter().map(|w| w.id).collect::<Vec<_>>(),
        [pending.id()]
    );
    let queued = store
        .list_tasks(
            scope,
            TaskFilter {
                workflow_id: None,
                status: Some(TaskStatus::Queued),
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(queued.items, vec![got.tasks[0].clone()]);
}

/// Under `Scope::Owner` of someone else, a workflow, its tasks and lists behave as if they did
/// not exist.
pub async fn other_owners_see_nothing<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(owner, "mine", vec![transform(None), transform(None)]);
    create_started(&*store, &new).await;
    let stranger = Scope::Owner(UserId::generate());

    assert_not_found(
        store.get_workflow(stranger, new.id()).await,
        "another owner's workflow",
    );
    for task in new.tasks() {
        assert_not_found(
            store.get_task(stranger, task.id()).await,
            "another owner's task",
        );
    }
    let workflows = store
        .list_workflows(stranger, WorkflowFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert!(workflows.items.is_empty(), "{workflows:?}");
    assert_eq!(workflows.next, None);
    let tasks = store
        .list_tasks(
            stranger,
            TaskFilter {
                workflow_id: Some(new.id()),
                status: None,
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(tasks.items.is_empty(), "{tasks:?}");
    let all = store
        .list_tasks(stranger, TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert!(all.items.is_empty(), "{all:?}");

    let everything = store
        .list_workflows(
            Scope::All,
            WorkflowFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(everything.items.len(), 1, "Scope::All sees it");
}
