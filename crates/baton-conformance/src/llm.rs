//! What llm tasks keep: ledger lines summed per (task, model) and per owner over time, the
//! response cache with its expiry, and each model's shared pace decided under a lock.

use std::time::Duration;

use baton_domain::ports::{LlmStore, Scope};
use baton_domain::{LlmCall, ModelLimit, Pace, TaskId, UserId, WorkflowId};
use chrono::Utc;
use serde_json::json;

use crate::StoreFactory;
use crate::support::{assert_not_found, create, transforms};

fn line(owner: UserId, workflow: WorkflowId, task: TaskId, model: &str, tokens: u64) -> LlmCall {
    LlmCall {
        id: uuid::Uuid::now_v7(),
        owner_id: owner,
        workflow_id: workflow,
        task_id: task,
        attempt: 1,
        model: model.into(),
        prompt_tokens: tokens,
        completion_tokens: tokens / 2,
        estimated: false,
        latency_ms: 120,
        first_token_ms: Some(30),
        finish_reason: Some("stop".into()),
        cost_usd: Some(0.25),
        cached: false,
        error: None,
    }
}

/// Lines are summed per (task, model) for their workflow, in the caller's scope; a line kept
/// twice (by id) counts once; an owner's usage is summed per model within its period.
pub async fn ledger_lines_add_up_per_task_model_and_owner<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = transforms(owner, "ledger", 2);
    create(&*store, &new).await;
    let (a, b) = (new.tasks()[0].id(), new.tasks()[1].id());
    let first = line(owner, new.id(), a, "m1", 100);
    let mut unpriced = line(owner, new.id(), a, "m1", 10);
    unpriced.cost_usd = None;
    unpriced.estimated = true;
    let mut cached = line(owner, new.id(), b, "m2", 0);
    cached.cached = true;
    cached.cost_usd = Some(0.0);
    store
        .record_calls(&[first.clone(), unpriced, cached])
        .await
        .unwrap();
    store.record_calls(&[first]).await.unwrap();

    let mut rows = store.workflow_usage(Scope::All, new.id()).await.unwrap();
    rows.sort_by(|x, y| x.model.cmp(&y.model));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let m1 = &rows[0];
    assert_eq!((m1.task_id, m1.model.as_str()), (Some(a), "m1"));
    assert_eq!(
        (m1.calls, m1.prompt_tokens, m1.completion_tokens),
        (2, 110, 55)
    );
    assert_eq!((m1.unpriced_calls, m1.estimated_calls), (1, 1));
    assert!((m1.cost_usd - 0.25).abs() < 1e-9, "{}", m1.cost_usd);
    assert_eq!((rows[1].task_id, rows[1].cached_calls), (Some(b), 1));

    let mine = store
        .workflow_usage(Scope::Owner(owner), new.id())
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    assert_not_found(
        store
            .workflow_usage(Scope::Owner(UserId::generate()), new.id())
            .await,
        "another owner's workflow",
    );
    assert_not_found(
        store
            .workflow_usage(Scope::All, WorkflowId::generate())
            .await,
        "an unknown workflow",
    );

    let now = Utc::now();
    let hour = chrono::Duration::hours(1);
    let mut period = store
        .owner_usage(owner, now - hour, now + hour)
        .await
        .unwrap();
    period.sort_by(|x, y| x.model.cmp(&y.model));
    assert_eq!(period.iter().map(|r| r.calls).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(period[0].task_id, None);
    assert!(
        store
            .owner_usage(owner, now + hour, now + hour * 2)
            .await
            .unwrap()
            .is_empty(),
        "nothing in a later period"
    );
    assert!(
        store
            .owner_usage(UserId::generate(), now - hour, now + hour)
            .await
            .unwrap()
            .is_empty(),
        "nothing of another owner"
    );
}

/// A cached answer is read back until it expires, and a second write replaces it.
pub async fn cached_answers_expire_and_are_replaced<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    assert_eq!(store.cached_answer("k").await.unwrap(), None);
    store
        .cache_answer("k", owner, &json!({"text": "one"}), 60_000)
        .await
        .unwrap();
    store
        .cache_answer("k", owner, &json!({"text": "two"}), 60_000)
        .await
        .unwrap();
    assert_eq!(
        store.cached_answer("k").await.unwrap(),
        Some(json!({"text": "two"}))
    );
    store
        .cache_answer("short", owner, &json!({"text": "gone"}), 1)
        .await
        .unwrap();
    crate::support::wait_until("the short-lived answer expires", || async {
        store.cached_answer("short").await.unwrap().is_none()
    })
    .await;
    assert!(store.cached_answer("k").await.unwrap().is_some());
}

/// Concurrent callers of a paced model are granted one slot each, spaced by the store's
/// clock; a held model makes every caller wait.
pub async fn a_models_pace_is_shared_and_held<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let limit = ModelLimit {
        requests_per_minute: Some(60),
        tokens_per_minute: None,
    };
    let mut racers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            store.pace_call("paced", &limit, 10).await.unwrap()
        }));
    }
    let mut granted = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Pace::Go(_) => granted += 1,
            Pace::Wait(wait) => assert!(wait <= Duration::from_millis(1_100), "{wait:?}"),
        }
    }
    assert_eq!(granted, 1, "one call a second: one of eight at once goes");

    let free = ModelLimit::default();
    assert!(matches!(
        store.pace_call("free", &free, 10).await.unwrap(),
        Pace::Go(_)
    ));
    store.hold_model("free", 60_000).await.unwrap();
    store.hold_model("free", 1_000).await.unwrap();
    match store.pace_call("free", &free, 10).await.unwrap() {
        Pace::Wait(wait) => assert!(
            wait > Duration::from_secs(50),
            "a shorter hold does not shorten a longer one: {wait:?}"
        ),
        go => panic!("a held model went: {go:?}"),
    }
}
