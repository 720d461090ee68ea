//! Parents and children racing each other on Postgres (READ COMMITTED, row locks): the lock
//! order of the child-workflows migration. A transaction waits for a second workflow's row only
//! upward (a child's last step, or a child's own cancel, takes its parent's row after
//! everything of the child); downward (a cancel's or a delete's cascade) rows are taken with
//! SKIP LOCKED, rolling back and trying again when one is held. Without that order these races
//! deadlock (Postgres aborts one side: an error here) or lose a parent task's release. Each
//! race runs several rounds, since the interleavings are left to chance.

use crate::support;

use baton_conformance::support::{
    DEADLINE, LONG_LEASE, claim_exactly, create_started, get_task, get_workflow, needs, workflow,
};
use baton_domain::ports::{Scope, StoreError, TaskQueue, WorkflowStore};
use baton_domain::{
    Claim, Fence, LeaseToken, NewWorkflow, StepApplied, StepCommit, TaskDraft, TaskError, TaskId,
    TaskStatus, UserId, WorkflowId, WorkflowStatus,
};
use baton_postgres::PgStore;
use serde_json::{Value, json};

const ROUNDS: usize = 12;

fn ids(new: &NewWorkflow) -> Vec<TaskId> {
    new.tasks().iter().map(|t| t.id()).collect()
}

/// A child's transform task, as written inside a `workflow` task's input.
fn child_transform() -> Value {
    json!({"type": "transform", "input": {"jq": "."}})
}

/// A `workflow` task (needing nothing) whose child has `tasks`, as a draft.
fn workflow_task(key: &str, tasks: Vec<Value>) -> TaskDraft {
    TaskDraft {
        key: Some(key.into()),
        task_type: "workflow".into(),
        input: Some(json!({"name": key, "input": {}, "tasks": tasks})),
        depends_on: Some(Vec::new()),
        ..TaskDraft::default()
    }
}

/// The same, as written inside a `workflow` task's input (a grandchild's parent).
fn workflow_task_json(key: &str, tasks: Vec<Value>) -> Value {
    json!({"key": key, "type": "workflow",
           "input": {"name": key, "input": {}, "tasks": tasks}})
}

/// Applies the start of the claimed `workflow` task's child; returns the child.
async fn start_child(store: &PgStore, claim: &Claim) -> NewWorkflow {
    let input = &claim.task.input;
    let name = input["name"].as_str().map(str::to_owned);
    let child = NewWorkflow::child(claim, name, input["input"].clone())
        .unwrap_or_else(|e| panic!("the child: {e:?}"));
    let step = StepCommit::child_started(claim, input.clone(), child.clone())
        .unwrap_or_else(|e| panic!("a step: {e}"));
    let applied = store
        .apply_step(&step)
        .await
        .unwrap_or_else(|e| panic!("start the child: {e}"));
    assert!(matches!(applied, StepApplied::Applied { next: None }));
    child
}

fn completed(claim: &Claim, output: Value) -> StepCommit {
    StepCommit::completed(claim, json!({}), output, None, None)
}

fn failed_for_good(claim: &Claim) -> StepCommit {
    let error = TaskError::permanent("http", "404 Not Found");
    StepCommit::failed(claim, None, &error, None, Fence::Held)
}

async fn nothing_claimable(store: &PgStore, what: &str) {
    let claims = store
        .claim(&[LeaseToken::new("w"), LeaseToken::new("w")], LONG_LEASE)
        .await
        .unwrap_or_else(|e| panic!("{what}: claim: {e}"));
    assert!(
        claims.is_empty(),
        "{what}: nothing is claimable: {:?}",
        claims.iter().map(|c| c.task.id).collect::<Vec<_>>()
    );
}

/// No task of the workflow is left pending, queued or running, and it has finished.
async fn assert_finished(store: &PgStore, id: WorkflowId, what: &str) {
    let read = get_workflow(store, id).await;
    assert!(read.finished_at.is_some(), "{what}: {:?}", read.status);
    assert!(
        read.tasks
            .iter()
            .all(|t| !TaskStatus::UNFINISHED.contains(&t.status)),
        "{what}: {:?}",
        read.tasks.iter().map(|t| t.status).collect::<Vec<_>>()
    );
}

async fn within<T>(what: &str, race: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, race)
        .await
        .unwrap_or_else(|_| panic!("{what}: the race hangs"))
}

/// A parent of a `workflow` task `p` and a transform `s`, both running; `p`'s child (one
/// task) started and its task claimed. Returns (parent, child, p, s's claim, the child's
/// task's claim).
async fn parent_and_child(
    store: &PgStore,
    name: &str,
) -> (NewWorkflow, NewWorkflow, TaskId, Claim, Claim) {
    let parent = workflow(
        UserId::generate(),
        name,
        vec![workflow_task("p", vec![child_transform()]), needs("s", &[])],
    );
    create_started(store, &parent).await;
    let tasks = ids(&parent);
    let mut claims = claim_exactly(store, "w", &tasks).await;
    let s = claims.remove(1);
    let p = claims.remove(0);
    let child = start_child(store, &p).await;
    let last = claim_exactly(store, "w", &ids(&child)).await.remove(0);
    (parent, child, tasks[0], s, last)
}

/// The child's last step (releasing the parent's task) racing the parent's failure (a sibling
/// failing for good, cancelling the parent's queued and running tasks): the release is applied
/// under the parent's row lock and sees the failure, so the parent's task is never left queued
/// in a failed parent (it is cancelled, whichever commits first), and a retry of the parent
/// runs it again with a new child.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_child_s_last_step_racing_its_parent_s_failure_leaves_nothing_to_run() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    for round in 0..ROUNDS {
        let what = format!("round {round}");
        let (parent, child, p, s, last) = parent_and_child(&store, &what).await;
        let (done, fail) = (completed(&last, json!(round)), failed_for_good(&s));
        let (stepped, failed) = within(&what, async {
            tokio::join!(store.apply_step(&done), store.apply_step(&fail))
        })
        .await;
        assert!(
            matches!(stepped, Ok(StepApplied::Applied { .. })),
            "{what}: {stepped:?}"
        );
        assert!(
            matches!(failed, Ok(StepApplied::Applied { .. })),
            "{what}: {failed:?}"
        );
        let kid = get_workflow(&store, child.id()).await;
        assert_eq!(kid.status, WorkflowStatus::Completed, "{what}");
        let after = get_workflow(&store, parent.id()).await;
        assert_eq!(after.status, WorkflowStatus::Failed, "{what}");
        assert_eq!(
            get_task(&store, p).await.status,
            TaskStatus::Cancelled,
            "{what}: the parent's task, released or not, is stopped by the failure"
        );
        nothing_claimable(&store, &what).await;

        let retry = after.retry().expect("a failed workflow can be retried");
        store.apply_transition(&retry).await.expect("retry");
        let again = get_task(&store, p).await;
        assert_eq!(again.status, TaskStatus::Queued, "{what}: retried");
        assert_eq!(
            again.child_workflow_id, None,
            "{what}: its next attempt starts a new child"
        );
        store
            .apply_transition(
                &get_workflow(&store, parent.id())
                    .await
                    .cancel()
                    .expect("cancel"),
            )
            .await
            .expect("cancel the retried parent");
    }
}

/// A failed parent deleted while its child's last step (which takes the parent's row) is
/// applied: the delete takes the child's row without waiting (trying again while the step
/// holds it), so neither deadlocks; the parent and the child are gone, the step applied first
/// or was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_child_s_last_step_racing_its_parent_s_delete() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    for round in 0..ROUNDS {
        let what = format!("round {round}");
        let (parent, child, _, s, last) = parent_and_child(&store, &what).await;
        store
            .apply_step(&failed_for_good(&s))
            .await
            .expect("fail the parent");
        let delete = get_workflow(&store, parent.id())
            .await
            .delete(None)
            .expect("a failed workflow can be deleted");
        let done = completed(&last, json!(round));
        let (stepped, deleted) = within(&what, async {
            tokio::join!(store.apply_step(&done), store.apply_edit(&delete))
        })
        .await;
        assert!(
            matches!(
                stepped,
                Ok(StepApplied::Applied { .. }) | Ok(StepApplied::Lost)
            ),
            "{what}: {stepped:?}"
        );
        assert!(deleted.is_ok(), "{what}: {deleted:?}");
        for id in [parent.id(), child.id()] {
            assert!(
                matches!(
                    store.get_workflow(Scope::All, id).await,
                    Err(StoreError::NotFound("workflow"))
                ),
                "{what}: {id} is gone"
            );
        }
        assert!(matches!(
            store.child_outcome(child.id()).await,
            Err(StoreError::NotFound("workflow"))
        ));
        nothing_claimable(&store, &what).await;
    }
}

/// The child's last step racing the parent's other steps and claims (which hold the parent's
/// row while they run): the step waits for the parent's row rather than skipping it, so the
/// release is never lost: the parent's task is queued (or already claimed) exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 6)]
async fn a_child_s_release_is_not_lost_among_its_parent_s_steps_and_claims() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    for round in 0..ROUNDS {
        let what = format!("round {round}");
        let parent = workflow(
            UserId::generate(),
            &what,
            vec![
                workflow_task("p", vec![child_transform()]),
                needs("s1", &[]),
                needs("s2", &[]),
                needs("s3", &[]),
                needs("t", &["s1", "s2", "s3"]),
            ],
        );
        create_started(&store, &parent).await;
        let tasks = ids(&parent);
        let mut claims = claim_exactly(&store, "w", &tasks[..4]).await;
        let siblings: Vec<Claim> = claims.split_off(1);
        let child = start_child(&store, &claims[0]).await;
        let last = claim_exactly(&store, "w", &ids(&child)).await.remove(0);

        let claimer = async {
            let mut got = Vec::new();
            for _ in 0..20 {
                let claimed = store
                    .claim(&[LeaseToken::new("z")], LONG_LEASE)
                    .await
                    .expect("claim");
                got.extend(claimed.into_iter().map(|c| c.task.id));
                tokio::task::yield_now().await;
            }
            got
        };
        let done = completed(&last, json!({"kid": round}));
        let steps: Vec<StepCommit> = (0..3).map(|i| completed(&siblings[i], json!(i))).collect();
        let (stepped, s1, s2, s3, grabbed) = within(&what, async {
            tokio::join!(
                store.apply_step(&done),
                store.apply_step(&steps[0]),
                store.apply_step(&steps[1]),
                store.apply_step(&steps[2]),
                claimer
            )
        })
        .await;
        for applied in [stepped, s1, s2, s3] {
            assert!(
                matches!(applied, Ok(StepApplied::Applied { .. })),
                "{what}: {applied:?}"
            );
        }
        let p = get_task(&store, tasks[0]).await;
        let claimed_p = grabbed.iter().filter(|id| **id == tasks[0]).count();
        match p.status {
            TaskStatus::Queued => assert_eq!(claimed_p, 0, "{what}"),
            TaskStatus::Running => assert_eq!(claimed_p, 1, "{what}"),
            other => panic!("{what}: the release was lost: the parent's task is {other}"),
        }
        let after = get_workflow(&store, parent.id()).await;
        assert_eq!(after.status, WorkflowStatus::Running, "{what}");
        store
            .apply_transition(&after.cancel().expect("cancel"))
            .await
            .expect("cancel");
    }
}

/// Three generations: a grandchild's last step (which takes its parent's row, the child's)
/// racing a cancel of the grandparent (cascading down to both) and a cancel of the child on
/// its own (which takes the grandparent's row to release its task): no deadlock; everything
/// ends cancelled, but a grandchild whose step applied first, which completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancels_up_and_down_three_generations_race_a_grandchild_s_last_step() {
    if !support::available().await {
        return;
    }
    let (store, _db) = support::fresh_store().await;
    for round in 0..ROUNDS {
        let what = format!("round {round}");
        let grandparent = workflow(
            UserId::generate(),
            &what,
            vec![workflow_task(
                "g",
                vec![workflow_task_json("k", vec![child_transform()])],
            )],
        );
        create_started(&store, &grandparent).await;
        let g = claim_exactly(&store, "w", &ids(&grandparent))
            .await
            .remove(0);
        let child = start_child(&store, &g).await;
        let k = claim_exactly(&store, "w", &ids(&child)).await.remove(0);
        let grandchild = start_child(&store, &k).await;
        let last = claim_exactly(&store, "w", &ids(&grandchild))
            .await
            .remove(0);
        let cancel_top = get_workflow(&store, grandparent.id())
            .await
            .cancel()
            .expect("cancel");
        let cancel_child = get_workflow(&store, child.id())
            .await
            .cancel()
            .expect("cancel");
        let done = completed(&last, json!(round));
        let (stepped, top, middle) = within(&what, async {
            tokio::join!(
                store.apply_step(&done),
                store.apply_transition(&cancel_top),
                store.apply_transition(&cancel_child)
            )
        })
        .await;
        assert!(
            matches!(
                stepped,
                Ok(StepApplied::Applied { .. }) | Ok(StepApplied::Lost)
            ),
            "{what}: {stepped:?}"
        );
        assert!(top.is_ok(), "{what}: the grandparent's cancel: {top:?}");
        assert!(
            matches!(middle, Ok(()) | Err(StoreError::Stale(_))),
            "{what}: the child's cancel (stale once the cascade cancelled it): {middle:?}"
        );
        for (id, name) in [(grandparent.id(), "grandparent"), (child.id(), "child")] {
            let read = get_workflow(&store, id).await;
            assert_eq!(read.status, WorkflowStatus::Cancelled, "{what}: the {name}");
            assert_finished(&store, id, &format!("{what}: the {name}")).await;
        }
        let kid = get_workflow(&store, grandchild.id()).await;
        let expected = match stepped {
            Ok(StepApplied::Applied { .. }) => WorkflowStatus::Completed,
            _ => WorkflowStatus::Cancelled,
        };
        assert_eq!(kid.status, expected, "{what}: the grandchild");
        assert_finished(&store, grandchild.id(), &format!("{what}: the grandchild")).await;
        nothing_claimable(&store, &what).await;
    }
}
