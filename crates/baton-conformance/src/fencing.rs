//! Fencing: every write about a claimed attempt is conditioned on its lease token.

use baton_domain::ports::{TaskQueue, WorkflowStore};
use std::time::Duration;

use baton_domain::{
    EventKind, Fence, LeaseToken, NewDocument, NewEvent, StepApplied, StepCommit, TaskError,
    TaskStatus, UserId, WorkflowStatus,
};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{
    LONG_LEASE, all_documents, claim_one, create_started, events_of, get_workflow, snapshot,
    store_task, transform, workflow,
};

/// A step, heartbeat, release or held event under a token that is not the claim's changes
/// nothing: the step is `Lost`, the others answer `false`; the real claim still holds.
pub async fn a_step_under_another_token_is_lost<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(owner, "fenced", vec![store_task("notes"), transform(None)]);
    create_started(&*store, &new).await;
    let claim = claim_one(&*store, "owner").await;
    let mut forged = claim.clone();
    forged.token = LeaseToken::new("intruder");
    let before = snapshot(&*store, new.id()).await;

    let document = NewDocument {
        id: uuid::Uuid::now_v7(),
        collection: "notes".into(),
        data: json!({"forged": true}),
    };
    let steps = [
        StepCommit::completed(
            &forged,
            json!({}),
            json!({"forged": true}),
            Some(document),
            None,
        ),
        StepCommit::failed(
            &forged,
            None,
            &TaskError::permanent("http", "forged"),
            None,
            Fence::Held,
        ),
        StepCommit::failed(
            &forged,
            None,
            &TaskError::retryable("http", "forged"),
            Some(Duration::ZERO),
            Fence::Held,
        ),
    ];
    for step in &steps {
        assert_eq!(
            store.apply_step(step).await.unwrap(),
            StepApplied::Lost,
            "a step under another token is lost: {step:?}"
        );
    }
    let delta = NewEvent::new(
        new.id(),
        EventKind::TaskDelta {
            task_id: claim.task.id,
            attempt: 1,
            text: "forged".into(),
        },
    );
    assert!(!store.append_held(&forged, &delta).await.unwrap());
    assert!(!store.heartbeat(&forged, LONG_LEASE).await.unwrap());
    assert!(!store.release(&forged).await.unwrap());

    let after = snapshot(&*store, new.id()).await;
    assert_eq!(after, before, "nothing changed");
    assert!(after.documents.is_empty(), "no document written");
    let task = &after.workflow.tasks[0];
    assert_eq!(task.status, TaskStatus::Running);
    assert_eq!(task.lease_owner.as_deref(), Some(claim.token.as_str()));
    assert!(
        store.heartbeat(&claim, LONG_LEASE).await.unwrap(),
        "the real claim still holds its lease"
    );
}

/// Once a decided cancel is applied, the claim of the running task has lost its lease: its
/// step is `Lost` (changing nothing), heartbeat, release and held events answer `false`.
pub async fn cancel_fences_out_the_running_claim<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(
        owner,
        "cancelled",
        vec![store_task("notes"), transform(None)],
    );
    create_started(&*store, &new).await;
    let claim = claim_one(&*store, "w").await;

    let cancel = get_workflow(&*store, new.id())
        .await
        .cancel()
        .expect("a running workflow can be cancelled");
    store.apply_transition(&cancel).await.unwrap();
    let cancelled = snapshot(&*store, new.id()).await;
    assert_eq!(cancelled.workflow.status, WorkflowStatus::Cancelled);
    assert!(cancelled.workflow.finished_at.is_some());
    for task in &cancelled.workflow.tasks {
        assert_eq!(
            task.status,
            TaskStatus::Cancelled,
            "unfinished tasks cancelled"
        );
        assert_eq!(task.lease_owner, None, "and their leases dropped");
    }
    assert_eq!(
        cancelled.events.last().map(|e| e.event_type.as_str()),
        Some("workflow.cancelled")
    );

    let document = NewDocument {
        id: uuid::Uuid::now_v7(),
        collection: "notes".into(),
        data: json!({"late": true}),
    };
    let step = StepCommit::completed(
        &claim,
        json!({}),
        json!({"late": true}),
        Some(document),
        None,
    );
    assert_eq!(store.apply_step(&step).await.unwrap(), StepApplied::Lost);
    let retry = StepCommit::failed(
        &claim,
        None,
        &TaskError::retryable("http", "late"),
        Some(Duration::ZERO),
        Fence::Held,
    );
    assert_eq!(store.apply_step(&retry).await.unwrap(), StepApplied::Lost);
    assert!(!store.heartbeat(&claim, LONG_LEASE).await.unwrap());
    assert!(!store.release(&claim).await.unwrap());
    let delta = NewEvent::new(
        new.id(),
        EventKind::TaskDelta {
            task_id: claim.task.id,
            attempt: 1,
            text: "late".into(),
        },
    );
    assert!(!store.append_held(&claim, &delta).await.unwrap());

    assert_eq!(
        snapshot(&*store, new.id()).await,
        cancelled,
        "nothing changed"
    );
    assert!(all_documents(&*store).await.is_empty());
    assert!(
        !events_of(&*store, new.id())
            .await
            .iter()
            .any(|e| e.event_type == "task.completed")
    );
}
