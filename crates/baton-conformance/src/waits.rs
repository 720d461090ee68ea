//! Sleep and wait tasks park without a lease, runnable at their wake time; signals are kept
//! for a workflow until a wait consumes one, once, and wake the waits parked for their name.

use baton_domain::ports::{Scope, TaskQueue, WorkflowStore};
use baton_domain::{
    NewSignal, SignalName, StepCommit, TaskDraft, TaskStatus, UserId, WorkflowStatus,
};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::StoreFactory;
use crate::support::{
    apply, assert_stale, claim, claim_one, create_started, events_of, get_task, get_workflow,
    types, workflow,
};

fn wait_task(signal: &str) -> TaskDraft {
    TaskDraft {
        key: Some("approve".into()),
        task_type: "wait".into(),
        input: Some(json!({"signal": signal})),
        ..TaskDraft::default()
    }
}

fn signal_to(workflow: &baton_domain::Workflow, name: &str, payload: Value) -> NewSignal {
    NewSignal::to(workflow, SignalName::new(name).unwrap(), payload).unwrap()
}

/// A park keeps the task queued without a lease, its attempt handed back, runnable at its wake
/// time and not before; `task.waiting` carries the time. Woken by its time, it is claimable.
pub async fn a_parked_task_waits_for_its_time<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let sleep = TaskDraft {
        task_type: "sleep".into(),
        input: Some(json!({"for_ms": 60_000})),
        ..TaskDraft::default()
    };
    let new = workflow(owner, "sleeps", vec![sleep]);
    create_started(&*store, &new).await;
    let claimed = claim_one(&*store, "w").await;
    let until = Utc::now() + Duration::minutes(1);
    let step = StepCommit::parked(
        &claimed,
        json!({"for_ms": 60_000}),
        Some(until),
        None,
        true,
        None,
    );
    assert_eq!(apply(&*store, &step).await, None);
    let task = get_task(&*store, claimed.task.id).await;
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!(task.lease_owner, None);
    assert_eq!(task.attempt, 0, "a park hands its attempt back");
    assert!(task.waiting_since.is_some());
    let wake = task.wake_at.expect("a wake time");
    assert!(
        (wake - until).num_milliseconds().abs() <= 1,
        "{wake} is {until}"
    );
    assert_eq!(
        task.available_at
            .map(|a| (a - until).num_milliseconds().abs() <= 1),
        Some(true)
    );
    assert!(
        claim(&*store, "w", 2).await.is_empty(),
        "not runnable before its time"
    );
    let events = events_of(&*store, new.id()).await;
    let waiting = events.last().unwrap();
    assert_eq!(waiting.event_type, "task.waiting");
    assert_eq!(waiting.data["task_id"], json!(claimed.task.id));
    assert!(waiting.data["until"].is_string());

    // A park under a token that does not hold the lease is lost: nothing changes.
    let mut other = claimed.clone();
    other.token = baton_domain::LeaseToken::new("w");
    let past = Utc::now() - Duration::seconds(1);
    let lost = StepCommit::parked(&other, json!({}), Some(past), None, false, None);
    assert_eq!(
        store.apply_step(&lost).await.unwrap(),
        baton_domain::StepApplied::Lost
    );
    let unchanged = get_task(&*store, claimed.task.id).await;
    assert_eq!(unchanged.waiting_since, task.waiting_since);
    assert_eq!(unchanged.wake_at, task.wake_at);
}

/// A wait parks forever (no time-out: never runnable by itself); a signal for its name makes
/// it runnable at once, appends `signal.received`, and a wait completed with it consumes it:
/// consumed twice, the second step applies nothing.
pub async fn a_signal_wakes_its_wait_and_is_consumed_once<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(owner, "approval", vec![wait_task("approval")]);
    create_started(&*store, &new).await;
    let claimed = claim_one(&*store, "w").await;
    let signal = SignalName::new("approval").unwrap();
    let step = StepCommit::parked(&claimed, json!({}), None, Some(signal), true, None);
    apply(&*store, &step).await;
    let parked = get_task(&*store, claimed.task.id).await;
    assert_eq!(
        parked.available_at, None,
        "a wait without a time-out never wakes by itself"
    );
    assert!(claim(&*store, "w", 1).await.is_empty());
    assert_eq!(store.next_signal(new.id(), "approval").await.unwrap(), None);

    let wf = get_workflow(&*store, new.id()).await;
    // Another name wakes nothing.
    let other = signal_to(&wf, "other", json!(1));
    store.send_signal(&other, wf.status).await.unwrap();
    assert!(
        claim(&*store, "w", 1).await.is_empty(),
        "a signal of another name wakes nothing"
    );

    let sent = signal_to(&wf, "approval", json!({"ok": true}));
    let received = store.send_signal(&sent, wf.status).await.unwrap();
    assert_eq!(received.id, sent.id);
    assert_eq!(received.payload, json!({"ok": true}));
    assert_eq!(received.consumed_by, None);
    let events = events_of(&*store, new.id()).await;
    let last = events.last().unwrap();
    assert_eq!(last.event_type, "signal.received");
    assert_eq!(last.data["name"], json!("approval"));
    assert_eq!(last.data["signal_id"], json!(sent.id));

    let woken = claim_one(&*store, "w").await;
    assert_eq!(
        woken.task.id, claimed.task.id,
        "the parked wait is runnable now"
    );
    let kept = store
        .next_signal(new.id(), "approval")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.id, sent.id);
    let mut done = StepCommit::completed(&woken, json!({}), kept.payload.clone(), None, None);
    done.consume_signal = Some(kept.id);
    apply(&*store, &done).await;
    let task = get_task(&*store, woken.task.id).await;
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(task.output, Some(json!({"ok": true})));
    assert_eq!(
        get_workflow(&*store, new.id()).await.status,
        WorkflowStatus::Completed
    );
    assert_eq!(
        store.next_signal(new.id(), "approval").await.unwrap(),
        None,
        "consumed"
    );
    let listed = store.list_signals(Scope::All, new.id()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, "other", "oldest first");
    assert_eq!(listed[1].consumed_by, Some(woken.task.id));
    assert!(listed[1].consumed_at.is_some());
    assert_eq!(listed[0].consumed_by, None);
    assert!(
        store
            .list_signals(Scope::Owner(UserId::generate()), new.id())
            .await
            .is_err(),
        "another owner's workflow is not found"
    );
}

/// A signal kept before the wait parks makes the park runnable at once (sent while the wait
/// was deciding, it is not missed); consuming a signal already consumed applies nothing.
pub async fn a_park_after_its_signal_is_runnable_at_once<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(owner, "early", vec![wait_task("go")]);
    create_started(&*store, &new).await;
    let claimed = claim_one(&*store, "w").await;
    let wf = get_workflow(&*store, new.id()).await;
    let sent = signal_to(&wf, "go", json!("now"));
    store.send_signal(&sent, wf.status).await.unwrap();
    let far = Utc::now() + Duration::hours(1);
    let step = StepCommit::parked(
        &claimed,
        json!({}),
        Some(far),
        Some(SignalName::new("go").unwrap()),
        true,
        None,
    );
    apply(&*store, &step).await;
    let woken = claim_one(&*store, "w").await;
    assert_eq!(woken.task.id, claimed.task.id);
    assert!(
        woken.task.available_at.unwrap() < woken.task.wake_at.unwrap(),
        "woken by the signal, before its time-out"
    );
    let mut done = StepCommit::completed(&woken, json!({}), json!("now"), None, None);
    done.consume_signal = Some(sent.id);
    apply(&*store, &done).await;

    // A second workflow: its wait completing with the first's (consumed) signal is refused.
    let second = workflow(owner, "late", vec![wait_task("go")]);
    create_started(&*store, &second).await;
    let claimed = claim_one(&*store, "w").await;
    let mut stale = StepCommit::completed(&claimed, json!({}), json!("now"), None, None);
    stale.consume_signal = Some(sent.id);
    assert!(
        store.apply_step(&stale).await.is_err(),
        "a consumed signal is not consumed again"
    );
    let task = get_task(&*store, claimed.task.id).await;
    assert_eq!(task.status, TaskStatus::Running, "nothing was applied");
}

/// A signal is kept only while the workflow is as it was decided from: sent to one whose
/// status changed it is `Stale`; nothing is stored. Cancelling a parked workflow cancels the
/// parked task at once, and a retry waits again from the start.
pub async fn signals_are_fenced_by_status_and_retry_waits_again<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = workflow(owner, "fenced", vec![wait_task("approval")]);
    create_started(&*store, &new).await;
    let claimed = claim_one(&*store, "w").await;
    let until = Utc::now() + Duration::hours(1);
    let step = StepCommit::parked(
        &claimed,
        json!({}),
        Some(until),
        Some(SignalName::new("approval").unwrap()),
        true,
        None,
    );
    apply(&*store, &step).await;
    let wf = get_workflow(&*store, new.id()).await;
    let signal = signal_to(&wf, "approval", json!(1));
    assert_stale(
        store.send_signal(&signal, WorkflowStatus::Pending).await,
        "a signal decided from another status",
    );
    assert!(
        store
            .list_signals(Scope::All, new.id())
            .await
            .unwrap()
            .is_empty()
    );

    let cancel = wf.cancel().unwrap();
    store.apply_transition(&cancel).await.unwrap();
    let task = get_task(&*store, claimed.task.id).await;
    assert_eq!(
        task.status,
        TaskStatus::Cancelled,
        "a parked task is cancelled at once"
    );
    let cancelled = get_workflow(&*store, new.id()).await;
    assert!(NewSignal::to(&cancelled, SignalName::new("approval").unwrap(), json!(1)).is_err());

    // A failed run retried: its wait starts waiting again (no waiting time kept).
    let second = workflow(owner, "retried", vec![wait_task("approval")]);
    create_started(&*store, &second).await;
    let claimed = claim_one(&*store, "w").await;
    let park = StepCommit::parked(
        &claimed,
        json!({}),
        Some(Utc::now() - Duration::seconds(1)),
        Some(SignalName::new("approval").unwrap()),
        true,
        None,
    );
    apply(&*store, &park).await;
    let woken = claim_one(&*store, "w").await;
    let error = baton_domain::TaskError::permanent("timeout", "no signal came");
    let failed = StepCommit::failed(&woken, None, &error, None, baton_domain::Fence::Held);
    apply(&*store, &failed).await;
    let wf = get_workflow(&*store, second.id()).await;
    assert_eq!(wf.status, WorkflowStatus::Failed);
    store.apply_transition(&wf.retry().unwrap()).await.unwrap();
    let task = get_task(&*store, claimed.task.id).await;
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!(
        task.waiting_since, None,
        "a retried wait waits again from the start"
    );
    assert_eq!(task.wake_at, None);
    let events = events_of(&*store, second.id()).await;
    assert!(types(&events).contains(&"task.waiting"));
}
