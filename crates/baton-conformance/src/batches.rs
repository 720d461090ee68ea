//! Steps applied as a batch (`apply_steps`): each answers as it would alone — a lost lease
//! only for its own step, an error only for the step that raised it — and the rest apply.

use baton_domain::ports::TaskQueue;
use baton_domain::{
    LeaseToken, NextClaim, StepApplied, StepCommit, TaskStatus, UserId, WorkflowStatus,
};
use serde_json::json;

use crate::StoreFactory;
use crate::support::{LONG_LEASE, claim, get_task, get_workflow, started};

/// Four one-task workflows claimed at once, their steps applied together: one under a token
/// that lost its lease (lost, nothing of it written), one deciding to claim a task that is not
/// pending (an error, nothing of it written), two valid (applied, their workflows completed).
/// A second batch of what is left applies as well: nothing of the first was half-done.
pub async fn a_batch_answers_each_step_as_alone<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let mut workflows = Vec::new();
    for _ in 0..4 {
        workflows.push(started(&*store, owner, 1).await);
    }
    let claims = claim(&*store, "w", 4).await;
    assert_eq!(claims.len(), 4);
    let of = |i: usize| {
        claims
            .iter()
            .find(|c| c.task.workflow_id == workflows[i].id())
            .expect("each workflow's task is claimed")
    };
    let done = |i: usize| StepCommit::completed(of(i), json!({}), json!({"w": i}), None, None);

    let mut stale = of(1).clone();
    stale.token = LeaseToken::new("another-worker");
    let lost = StepCommit::completed(&stale, json!({}), json!({"w": 1}), None, None);
    let mut broken = done(2);
    broken.claim_task = Some((
        of(0).task.id,
        NextClaim {
            token: LeaseToken::new("w"),
            lease: LONG_LEASE,
        },
    ));
    let (first, last) = (done(0), done(3));
    let batch = [&first, &lost, &broken, &last];
    let answers = store.apply_steps(&batch).await;
    assert_eq!(answers.len(), 4, "one answer per step");
    assert!(
        matches!(answers[0], Ok(StepApplied::Applied { next: None })),
        "{:?}",
        answers[0]
    );
    assert!(
        matches!(answers[1], Ok(StepApplied::Lost)),
        "{:?}",
        answers[1]
    );
    assert!(
        answers[2].is_err(),
        "the broken step raises: {:?}",
        answers[2]
    );
    assert!(
        matches!(answers[3], Ok(StepApplied::Applied { next: None })),
        "{:?}",
        answers[3]
    );
    for (i, status) in [
        (0, WorkflowStatus::Completed),
        (1, WorkflowStatus::Running),
        (2, WorkflowStatus::Running),
        (3, WorkflowStatus::Completed),
    ] {
        let workflow = get_workflow(&*store, workflows[i].id()).await;
        assert_eq!(workflow.status, status, "workflow {i}");
    }
    for i in [1, 2] {
        let task = get_task(&*store, of(i).task.id).await;
        assert_eq!(task.status, TaskStatus::Running, "task {i} is untouched");
        assert_eq!(task.output, None);
    }
    assert_eq!(
        get_task(&*store, of(0).task.id).await.output,
        Some(json!({"w": 0}))
    );

    let (second, third) = (done(1), done(2));
    let answers = store.apply_steps(&[&second, &third]).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Ok(StepApplied::Applied { .. }))),
        "{answers:?}"
    );
    for workflow in &workflows {
        assert_eq!(
            get_workflow(&*store, workflow.id()).await.status,
            WorkflowStatus::Completed
        );
    }
}
