//! Steps of one workflow's parallel tasks racing each other and its transitions, on Postgres
//! (READ COMMITTED, row locks). `baton_apply_step` locks the workflow row first, as transitions
//! do: racing steps then neither deadlock nor miss each other's writes (event_order.rs races
//! them with claims and held events too). Each race runs several rounds, since the
//! interleavings are left to chance.

use crate::support;

use baton_conformance::support::{
    LONG_LEASE, claim_exactly, create_started, events_of, get_workflow, needs, transform, types,
    workflow,
};
use baton_domain::ports::{TaskQueue, WorkflowStore};
use baton_domain::{
    CarryOn, Claim, Fence, StepApplied, StepCommit, TaskError, TaskId, TaskStatus, UserId,
    WorkflowStatus,
};
use serde_json::{Value, json};

const ROUNDS: usize = 12;

fn ids(new: &baton_domain::NewWorkflow) -> Vec<TaskId> {
    new.tasks().iter().map(|t| t.id()).collect()
}

fn completed(claim: &Claim, output: Value) -> StepCommit {
    StepCommit::completed(claim, json!({}), output, None, None)
}

fn failed_for_good(claim: &Claim) -> StepCommit {
    let error = TaskError::permanent("http", "404 Not Found");
    StepCommit::failed(claim, None, &error, None, Fence::Held)
}

/// No task of the workflow is queued or running.
fn idle(workflow: &baton_domain::Workflow) -> bool {
    workflow
        .tasks
        .iter()
        .all(|t| !matches!(t.status, TaskStatus::Queued | TaskStatus::Running))
}

/// Two last tasks finishing at once: whichever commits second completes the workflow, and it
/// reads the output task's output as the other step committed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_two_tasks_finishing_at_once_complete_the_workflow_once() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    for round in 0..ROUNDS {
        let new = workflow(
            UserId::generate(),
            &format!("leaves {round}"),
            vec![needs("a", &[]), needs("b", &[])],
        );
        create_started(&store, &new).await;
        let claims = claim_exactly(&store, "w", &ids(&new)).await;
        let (a, b) = (
            completed(&claims[0], json!({"from": "a"})),
            completed(&claims[1], json!({"from": "b"})),
        );
        let (applied_a, applied_b) = tokio::join!(store.apply_step(&a), store.apply_step(&b));
        for applied in [applied_a, applied_b] {
            assert!(
                matches!(applied, Ok(StepApplied::Applied { next: None })),
                "round {round}: {applied:?}"
            );
        }
        let done = get_workflow(&store, new.id()).await;
        assert_eq!(done.status, WorkflowStatus::Completed, "round {round}");
        assert_eq!(
            done.output,
            Some(json!({"from": "b"})),
            "round {round}: the output task's output, whichever step finished the workflow"
        );
        let events = events_of(&store, new.id()).await;
        let completions: Vec<&baton_domain::Event> = events
            .iter()
            .filter(|e| e.event_type == "workflow.completed")
            .collect();
        assert_eq!(completions.len(), 1, "round {round}: {:?}", types(&events));
        assert_eq!(completions[0].data, json!({"output": {"from": "b"}}));
        assert_eq!(types(&events).last(), Some(&"workflow.completed"));
    }
}

/// A task failing for good while a sibling completes and queues its own dependent: no
/// deadlock, and once the workflow has failed none of its tasks is left queued or running.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_racing_a_sibling_s_completion_leaves_nothing_to_run() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    for round in 0..ROUNDS {
        let new = workflow(
            UserId::generate(),
            &format!("race {round}"),
            vec![needs("a", &[]), needs("b", &[]), needs("d", &["b"])],
        );
        create_started(&store, &new).await;
        let tasks = ids(&new);
        let claims = claim_exactly(&store, "w", &tasks[..2]).await;
        let (fail, complete) = (
            failed_for_good(&claims[0]),
            completed(&claims[1], json!({"b": round})),
        );
        let (failed, done) = tokio::join!(store.apply_step(&fail), store.apply_step(&complete));
        assert!(
            matches!(failed, Ok(StepApplied::Applied { .. })),
            "round {round}: {failed:?}"
        );
        assert!(
            matches!(
                done,
                Ok(StepApplied::Applied { .. }) | Ok(StepApplied::Lost)
            ),
            "round {round}: {done:?}"
        );
        let after = get_workflow(&store, new.id()).await;
        assert_eq!(after.status, WorkflowStatus::Failed, "round {round}");
        assert!(
            idle(&after),
            "round {round}: {:?}",
            after.tasks.iter().map(|t| t.status).collect::<Vec<_>>()
        );
        let b = &after.tasks[1];
        match done {
            Ok(StepApplied::Lost) => assert_eq!(b.status, TaskStatus::Cancelled),
            _ => assert_eq!(b.status, TaskStatus::Completed),
        }
        assert!(
            store
                .claim(&[baton_domain::LeaseToken::new("w")], LONG_LEASE)
                .await
                .is_ok_and(|c| c.is_empty()),
            "round {round}: nothing of the failed workflow is claimable"
        );
    }
}

/// Cancelling a workflow while its running task's step (carrying on to the next task) is
/// applied: no deadlock, and the cancel wins or comes after the step, never half of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_a_step_leaves_nothing_to_run() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    let carry_on = CarryOn {
        worker: "w".into(),
        lease: LONG_LEASE,
    };
    for round in 0..ROUNDS {
        let new = workflow(
            UserId::generate(),
            &format!("cancel {round}"),
            vec![
                transform(Some("a")),
                transform(Some("b")),
                transform(Some("c")),
            ],
        );
        create_started(&store, &new).await;
        let claim = claim_exactly(&store, "w", &ids(&new)[..1]).await.remove(0);
        let step = StepCommit::completed(&claim, json!({}), json!(1), None, Some(&carry_on));
        let cancel = get_workflow(&store, new.id())
            .await
            .cancel()
            .expect("a running workflow can be cancelled");
        let (applied, cancelled) =
            tokio::join!(store.apply_step(&step), store.apply_transition(&cancel));
        assert!(cancelled.is_ok(), "round {round}: {cancelled:?}");
        assert!(
            matches!(
                applied,
                Ok(StepApplied::Applied { .. }) | Ok(StepApplied::Lost)
            ),
            "round {round}: {applied:?}"
        );
        let after = get_workflow(&store, new.id()).await;
        assert_eq!(after.status, WorkflowStatus::Cancelled, "round {round}");
        assert!(
            idle(&after),
            "round {round}: {:?}",
            after.tasks.iter().map(|t| t.status).collect::<Vec<_>>()
        );
    }
}

/// A step is one statement (the step function), however many tasks the workflow has and
/// whether it releases, queues or completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_is_one_statement_at_any_workflow_size() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    for n in [2usize, 60] {
        // A fan-out and a join: the root queues every branch, each branch releases the join.
        let mut drafts = vec![needs("root", &[])];
        let branches: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
        drafts.extend(branches.iter().map(|k| needs(k, &["root"])));
        let keys: Vec<&str> = branches.iter().map(String::as_str).collect();
        drafts.push(needs("join", &keys));
        let new = workflow(UserId::generate(), &format!("fan {n}"), drafts);
        create_started(&store, &new).await;
        let tasks = ids(&new);
        let root = claim_exactly(&store, "w", &tasks[..1]).await.remove(0);
        let before = store.statements_executed();
        store
            .apply_step(&completed(&root, json!(0)))
            .await
            .expect("apply");
        assert_eq!(
            store.statements_executed() - before,
            1,
            "the root's step, {n} branches"
        );
        let claims = claim_exactly(&store, "w", &tasks[1..=n]).await;
        for claim in &claims {
            let before = store.statements_executed();
            store
                .apply_step(&completed(claim, json!(1)))
                .await
                .expect("apply");
            assert_eq!(store.statements_executed() - before, 1, "a branch's step");
        }
        let join = claim_exactly(&store, "w", &tasks[n + 1..]).await.remove(0);
        let before = store.statements_executed();
        store
            .apply_step(&completed(&join, json!("end")))
            .await
            .expect("apply");
        assert_eq!(store.statements_executed() - before, 1, "the last step");
        let done = get_workflow(&store, new.id()).await;
        assert_eq!(done.status, WorkflowStatus::Completed);
        assert_eq!(done.output, Some(json!("end")));
    }
}
