//! Claiming queued tasks: exclusive under concurrency, oldest first, each with its
//! `task.started` event.

use baton_domain::ports::TaskQueue;
use std::collections::{HashMap, HashSet};

use baton_domain::{Claim, LeaseToken, TaskId, TaskStatus, UserId};
use serde_json::json;

use crate::support::{LONG_LEASE, claim, create, events_of, get_task, started, transforms};
use crate::{ConformantStore, StoreFactory};

const WORKFLOWS: usize = 60;
const CLAIMERS: usize = 16;
const TOKENS_PER_CLAIM: usize = 3;

/// What one claimer got: each claim with the tokens of the call that returned it.
type Claimed = Vec<(Claim, Vec<LeaseToken>)>;

async fn claim_until_empty<S: ConformantStore>(store: S, worker: String) -> Claimed {
    let mut claimed = Vec::new();
    loop {
        let tokens: Vec<LeaseToken> = (0..TOKENS_PER_CLAIM)
            .map(|_| LeaseToken::new(&worker))
            .collect();
        let claims = store.claim(&tokens, LONG_LEASE).await.expect("claim");
        assert!(claims.len() <= tokens.len(), "at most one task per token");
        if claims.is_empty() {
            return claimed;
        }
        claimed.extend(claims.into_iter().map(|c| (c, tokens.clone())));
    }
}

/// 16 workers claiming concurrently from 60 queued tasks: every task is claimed exactly once,
/// under one of the tokens its call passed, as attempt 1, running, with one `task.started`
/// event naming the token's worker.
pub async fn claims_are_exclusive_under_concurrency<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let mut queued = HashMap::new();
    for _ in 0..WORKFLOWS {
        let new = started(&*store, owner, 1).await;
        queued.insert(new.tasks()[0].id(), new.id());
    }

    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|i| tokio::spawn(claim_until_empty((*store).clone(), format!("worker-{i}"))))
        .collect();
    let mut claims: Claimed = Vec::new();
    for claimer in futures_util::future::join_all(claimers).await {
        claims.extend(claimer.expect("a claimer panicked"));
    }

    let ids: HashSet<TaskId> = claims.iter().map(|(c, _)| c.task.id).collect();
    assert_eq!(claims.len(), WORKFLOWS, "every task claimed, none twice");
    assert_eq!(ids.len(), WORKFLOWS, "no task claimed twice");
    assert_eq!(
        ids,
        queued.keys().copied().collect::<HashSet<_>>(),
        "exactly the queued tasks were claimed"
    );
    assert!(
        claim(&*store, "late", 4).await.is_empty(),
        "nothing is left to claim"
    );

    let mut tokens = HashSet::new();
    for (claim, passed) in &claims {
        assert!(
            passed.contains(&claim.token),
            "the claim's token {} is one of the tokens passed",
            claim.token
        );
        assert!(tokens.insert(claim.token.clone()), "one task per token");
        assert_eq!(claim.task.attempt, 1);
        assert_eq!(claim.attempt(), 1);
        assert_eq!(claim.task.status, TaskStatus::Running);
        assert_eq!(
            claim.task.lease_owner.as_deref(),
            Some(claim.token.as_str())
        );
        assert!(
            claim.task.lease_expires_at.is_some(),
            "the claim has a lease"
        );
        assert_eq!(claim.task.workflow_id, queued[&claim.task.id]);
        assert_eq!(claim.workflow_name, "started");
        assert_eq!(claim.workflow_input, json!({"name": "started"}));
        assert_eq!(
            claim.dependents,
            [],
            "one-task workflows: nothing needs the task"
        );
        assert_eq!(
            claim.output_task,
            Some(claim.task.id),
            "a one-task workflow's output is its task's"
        );

        let stored = get_task(&*store, claim.task.id).await;
        assert_eq!(stored.status, TaskStatus::Running);
        assert_eq!(stored.attempt, 1);
        assert_eq!(stored.lease_owner.as_deref(), Some(claim.token.as_str()));

        let events = events_of(&*store, claim.task.workflow_id).await;
        let started: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == "task.started")
            .collect();
        assert_eq!(started.len(), 1, "one task.started per claim: {events:?}");
        assert_eq!(
            started[0].data,
            json!({
                "task_id": claim.task.id,
                "attempt": 1,
                "worker": claim.token.worker(),
            })
        );
    }
}

/// A claim takes at most one task per token, oldest queued first, never a pending task; no
/// tokens claim nothing.
pub async fn claims_take_the_oldest_queued_tasks_first<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let pending = transforms(owner, "pending", 1);
    create(&*store, &pending).await;
    let first = started(&*store, owner, 1).await;
    let second = started(&*store, owner, 1).await;
    let third = started(&*store, owner, 1).await;

    assert!(
        store.claim(&[], LONG_LEASE).await.unwrap().is_empty(),
        "no tokens, no claims"
    );
    let one = claim(&*store, "w", 1).await;
    assert_eq!(
        one.iter().map(|c| c.task.id).collect::<Vec<_>>(),
        [first.tasks()[0].id()],
        "the oldest queued task first"
    );
    let rest = claim(&*store, "w", 5).await;
    let mut ids: Vec<TaskId> = rest.iter().map(|c| c.task.id).collect();
    ids.sort();
    assert_eq!(ids, [second.tasks()[0].id(), third.tasks()[0].id()]);
    assert!(claim(&*store, "w", 5).await.is_empty());
    assert_eq!(
        get_task(&*store, pending.tasks()[0].id()).await.status,
        TaskStatus::Pending,
        "pending tasks are never claimed"
    );
}
