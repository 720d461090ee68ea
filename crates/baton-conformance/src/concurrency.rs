//! Concurrency keys: a start beyond the key's limit queues the workflow, admission starts the
//! oldest queued first, an admission decided from what no longer holds changes nothing, two
//! concurrent admissions of one key never run more than its limit, and keys are per owner.
//!
//! The decisions are the domain's, as the engine takes them (its rendering of the key aside:
//! here the key is given rendered).

use baton_domain::ports::{ConcurrencyStore, StoreError, WorkflowStore};
use baton_domain::{
    Admission, Concurrency, ConcurrencyKey, KeyState, KeyedStart, NewWorkflow, TaskStatus, UserId,
    WorkflowId, WorkflowStatus, admit,
};
use serde_json::json;

use crate::support::{assert_stale, create, get_workflow, snapshot, transform, types};
use crate::{ConformantStore, StoreFactory};

fn key(text: &str) -> ConcurrencyKey {
    ConcurrencyKey::new(text.into()).expect("a valid key")
}

/// A pending workflow of two tasks keyed by its input's `tenant`, with `limit`.
async fn keyed<S: ConformantStore>(
    store: &S,
    owner: UserId,
    tenant: &str,
    limit: u32,
) -> WorkflowId {
    let new = NewWorkflow::new(
        owner,
        format!("keyed {tenant}"),
        Some(json!({"tenant": tenant})),
        vec![transform(Some("a")), transform(Some("b"))],
    )
    .expect("a valid workflow")
    .with_concurrency(Some(Concurrency {
        key: "{{ input.tenant }}".into(),
        limit,
    }));
    create(store, &new).await;
    new.id()
}

/// Starts workflow `id` under `key` as the engine does: runs at once when a slot is free and
/// nobody waits, else queued. Whether it ran.
async fn start<S: ConformantStore>(store: &S, id: WorkflowId, key: &ConcurrencyKey) -> bool {
    let workflow = get_workflow(store, id).await;
    let state = store
        .key_state(workflow.owner_id, key, 1_000)
        .await
        .expect("read the key");
    let decided = workflow
        .admit_or_queue(workflow.start().unwrap(), key.clone(), &state)
        .unwrap();
    match decided {
        KeyedStart::Run(admission) => {
            store.admit(&admission).await.expect("admit the start");
            true
        }
        KeyedStart::Queue(parked) => {
            store.apply_transition(&parked).await.expect("queue it");
            false
        }
    }
}

/// Decides the admission of the key as it stands, as the engine does.
async fn decide<S: ConformantStore>(
    store: &S,
    owner: UserId,
    key: &ConcurrencyKey,
) -> (KeyState, Option<Admission>) {
    let state = store.key_state(owner, key, 1_000).await.unwrap();
    let count = admit(state.running, &state.queued);
    if count == 0 {
        return (state, None);
    }
    let mut admitted = Vec::new();
    for queued in &state.queued[..count] {
        admitted.push(get_workflow(store, queued.id).await);
    }
    let admission = Admission::of_queued(owner, key.clone(), state.running, &admitted).unwrap();
    (state, Some(admission))
}

async fn status<S: ConformantStore>(store: &S, id: WorkflowId) -> WorkflowStatus {
    get_workflow(store, id).await.status
}

async fn cancel<S: ConformantStore>(store: &S, id: WorkflowId) {
    let cancel = get_workflow(store, id).await.cancel().unwrap();
    store.apply_transition(&cancel).await.unwrap();
}

/// Within the limit a start runs (its key stored rendered); beyond it the workflow is queued
/// with a `workflow.queued` event, its tasks left pending, listed by the sweep's read.
pub async fn a_start_beyond_the_limit_queues<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let acme = key("acme");
    let first = keyed(&*store, owner, "acme", 1).await;
    let second = keyed(&*store, owner, "acme", 1).await;
    assert!(store.queued_keys(100).await.unwrap().is_empty());

    assert!(start(&*store, first, &acme).await, "a free slot");
    let running = get_workflow(&*store, first).await;
    assert_eq!(running.status, WorkflowStatus::Running);
    assert_eq!(
        running.concurrency,
        Some(Concurrency {
            key: "acme".into(),
            limit: 1
        }),
        "the key is kept rendered"
    );
    assert_eq!(running.tasks[0].status, TaskStatus::Queued);

    assert!(!start(&*store, second, &acme).await, "the slot is taken");
    let queued = snapshot(&*store, second).await;
    assert_eq!(queued.workflow.status, WorkflowStatus::Queued);
    assert!(
        queued
            .workflow
            .tasks
            .iter()
            .all(|t| t.status == TaskStatus::Pending),
        "its tasks wait until it is admitted"
    );
    assert_eq!(types(&queued.events), ["workflow.queued"]);
    assert_eq!(queued.events[0].data, json!({"key": "acme", "limit": 1}));
    assert_eq!(
        queued.workflow.concurrency.as_ref().map(|c| c.key.as_str()),
        Some("acme")
    );

    let state = store.key_state(owner, &acme, 1_000).await.unwrap();
    assert_eq!(state.running, 1);
    assert_eq!(state.queued.len(), 1);
    assert_eq!((state.queued[0].id, state.queued[0].limit), (second, 1));
    assert_eq!(
        store.queued_keys(100).await.unwrap(),
        [(owner, acme.clone())]
    );
    let (_, admission) = decide(&*store, owner, &acme).await;
    assert_eq!(admission, None, "nothing to admit while the slot is taken");
}

/// When a slot frees, admission starts the oldest queued workflow (by the time it was queued),
/// as a start decided again: its roots queued, `workflow.started`; the younger one waits.
pub async fn admission_starts_the_oldest_first<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let acme = key("acme");
    let first = keyed(&*store, owner, "acme", 1).await;
    // Created in one order, queued in the other: the time queued decides.
    let younger = keyed(&*store, owner, "acme", 1).await;
    let older = keyed(&*store, owner, "acme", 1).await;
    assert!(start(&*store, first, &acme).await);
    assert!(!start(&*store, older, &acme).await);
    assert!(!start(&*store, younger, &acme).await);
    let state = store.key_state(owner, &acme, 1_000).await.unwrap();
    let order: Vec<WorkflowId> = state.queued.iter().map(|q| q.id).collect();
    assert_eq!(order, [older, younger], "oldest queued first");

    cancel(&*store, first).await;
    let (_, admission) = decide(&*store, owner, &acme).await;
    let admission = admission.expect("the freed slot admits one");
    assert_eq!(admission.workflows(), [older]);
    store.admit(&admission).await.unwrap();

    let admitted = snapshot(&*store, older).await;
    assert_eq!(admitted.workflow.status, WorkflowStatus::Running);
    assert!(admitted.workflow.started_at.is_some());
    assert_eq!(admitted.workflow.tasks[0].status, TaskStatus::Queued);
    assert_eq!(admitted.workflow.tasks[1].status, TaskStatus::Pending);
    assert_eq!(
        types(&admitted.events),
        ["workflow.queued", "workflow.started"]
    );
    assert_eq!(status(&*store, younger).await, WorkflowStatus::Queued);
    let (state, admission) = decide(&*store, owner, &acme).await;
    assert_eq!((state.running, admission), (1, None));
}

/// An admission decided from what no longer holds changes nothing (`Stale`): more of the key
/// run than it was decided with, a workflow it starts is no longer queued, or a start that
/// went straight to running finds one queued meanwhile.
pub async fn a_stale_admission_changes_nothing<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let acme = key("acme");
    let first = keyed(&*store, owner, "acme", 2).await;
    let (b, c) = (
        keyed(&*store, owner, "acme", 2).await,
        keyed(&*store, owner, "acme", 2).await,
    );
    assert!(start(&*store, first, &acme).await);
    let second = keyed(&*store, owner, "acme", 2).await;
    assert!(start(&*store, second, &acme).await);
    assert!(!start(&*store, b, &acme).await);
    assert!(!start(&*store, c, &acme).await);

    // One slot frees: an admission of b is decided from one running ...
    cancel(&*store, second).await;
    let (state, admission) = decide(&*store, owner, &acme).await;
    assert_eq!(state.running, 1);
    let admit_b = admission.unwrap();
    assert_eq!(admit_b.workflows(), [b]);
    // ... while another took the slot for c (as another instance deciding differently).
    let admit_c =
        Admission::of_queued(owner, acme.clone(), 1, &[get_workflow(&*store, c).await]).unwrap();
    store.admit(&admit_c).await.unwrap();
    let before = snapshot(&*store, b).await;
    assert_stale(store.admit(&admit_b).await, "more run than decided with");
    assert_eq!(snapshot(&*store, b).await, before, "nothing changed");

    // A slot frees again, but b is cancelled before its admission applies.
    cancel(&*store, c).await;
    let (_, admission) = decide(&*store, owner, &acme).await;
    let admit_b = admission.unwrap();
    cancel(&*store, b).await;
    let before = snapshot(&*store, b).await;
    assert_stale(store.admit(&admit_b).await, "b is no longer queued");
    assert_eq!(snapshot(&*store, b).await, before, "nothing changed");
    assert_eq!(status(&*store, b).await, WorkflowStatus::Cancelled);

    // A start decided with a free slot and nobody queued, applied after one was queued.
    let direct = keyed(&*store, owner, "acme", 2).await;
    let waiting = keyed(&*store, owner, "acme", 2).await;
    let workflow = get_workflow(&*store, direct).await;
    let state = store.key_state(owner, &acme, 1_000).await.unwrap();
    let KeyedStart::Run(run) = workflow
        .admit_or_queue(workflow.start().unwrap(), acme.clone(), &state)
        .unwrap()
    else {
        panic!("one of two slots is free")
    };
    let other = get_workflow(&*store, waiting).await;
    let full = KeyState {
        running: 2,
        queued: Vec::new(),
    };
    let KeyedStart::Queue(parked) = other
        .admit_or_queue(other.start().unwrap(), acme.clone(), &full)
        .unwrap()
    else {
        panic!("decided as if full")
    };
    store.apply_transition(&parked).await.unwrap();
    let before = snapshot(&*store, direct).await;
    assert_stale(store.admit(&run).await, "one was queued meanwhile");
    assert_eq!(snapshot(&*store, direct).await, before, "nothing changed");
}

/// Admissions of one key decided from the same free slot, applied at the same time: one
/// applies, the others are `Stale`; never more than the limit run.
pub async fn concurrent_admissions_never_exceed_the_limit<F: StoreFactory>(factory: &F) {
    let fresh = factory.store().await;
    let store = fresh.store();
    let owner = UserId::generate();
    let acme = key("acme");
    let holder = keyed(store, owner, "acme", 1).await;
    assert!(start(store, holder, &acme).await);
    let mut queued = Vec::new();
    for _ in 0..6 {
        let id = keyed(store, owner, "acme", 1).await;
        assert!(!start(store, id, &acme).await);
        queued.push(id);
    }
    cancel(store, holder).await;

    // Each admits a different queued workflow, all decided from "none running".
    let mut admissions = Vec::new();
    for id in &queued {
        let workflow = get_workflow(store, *id).await;
        admissions.push(Admission::of_queued(owner, acme.clone(), 0, &[workflow]).unwrap());
    }
    let tasks: Vec<_> = admissions
        .into_iter()
        .map(|admission| {
            let store = store.clone();
            tokio::spawn(async move { store.admit(&admission).await })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => applied += 1,
            Err(StoreError::Stale(_)) => {}
            Err(err) => panic!("an admission failed: {err}"),
        }
    }
    assert_eq!(applied, 1, "one admission took the slot");
    let mut running = 0;
    for id in &queued {
        if status(store, *id).await == WorkflowStatus::Running {
            running += 1;
        }
    }
    assert_eq!(running, 1, "at most the limit run");
    let state = store.key_state(owner, &acme, 1_000).await.unwrap();
    assert_eq!((state.running, state.queued.len()), (1, 5));
}

/// Two owners' keys of the same text are two keys: one's running workflows take no slot of
/// the other's, and the sweep lists them apart.
pub async fn keys_are_per_owner<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let acme = key("acme");
    let hers = keyed(&*store, alice, "acme", 1).await;
    let his = keyed(&*store, bob, "acme", 1).await;
    assert!(start(&*store, hers, &acme).await);
    assert!(
        start(&*store, his, &acme).await,
        "her run takes no slot of his"
    );
    let (more_hers, more_his) = (
        keyed(&*store, alice, "acme", 1).await,
        keyed(&*store, bob, "acme", 1).await,
    );
    assert!(!start(&*store, more_hers, &acme).await);
    assert!(!start(&*store, more_his, &acme).await);
    let mut keys = store.queued_keys(100).await.unwrap();
    keys.sort();
    let mut expected = vec![(alice, acme.clone()), (bob, acme.clone())];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(
        store.key_state(alice, &acme, 1_000).await.unwrap().queued[0].id,
        more_hers
    );

    cancel(&*store, hers).await;
    let (_, admission) = decide(&*store, alice, &acme).await;
    store.admit(&admission.unwrap()).await.unwrap();
    assert_eq!(status(&*store, more_hers).await, WorkflowStatus::Running);
    assert_eq!(
        status(&*store, more_his).await,
        WorkflowStatus::Queued,
        "his slot is still taken"
    );
}
