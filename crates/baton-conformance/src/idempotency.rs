//! `Idempotency-Key`s (the `IdempotencyStore` port): one request per key and principal, its
//! response replayed.

use baton_domain::ports::IdempotencyStore;
use baton_domain::{Begun, IdempotencyKey, StoredResponse, UserId};

use crate::StoreFactory;

const REQUEST: [u8; 32] = [1; 32];
const OTHER_REQUEST: [u8; 32] = [2; 32];

fn key(principal: UserId, key: &str) -> IdempotencyKey {
    IdempotencyKey::new(principal, key).unwrap()
}

fn response() -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("location".into(), "/api/workflows/1".into()),
            ("etag".into(), "\"1\"".into()),
        ],
        body: br#"{"id":1}"#.to_vec(),
    }
}

/// `begin` starts a free key; while it runs the same request is `InFlight` and another one a
/// `Mismatch`; once completed, the same request replays the response exactly.
pub async fn idempotency_keys_begin_complete_and_replay<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let alice = key(UserId::generate(), "order-1");

    assert_eq!(store.begin(&alice, &REQUEST).await.unwrap(), Begun::Started);
    assert_eq!(
        store.begin(&alice, &REQUEST).await.unwrap(),
        Begun::InFlight
    );
    assert_eq!(
        store.begin(&alice, &OTHER_REQUEST).await.unwrap(),
        Begun::Mismatch
    );

    store.complete(&alice, &response()).await.unwrap();
    assert_eq!(
        store.begin(&alice, &REQUEST).await.unwrap(),
        Begun::Completed(response()),
        "the response is replayed as recorded, headers in order"
    );
    assert_eq!(
        store.begin(&alice, &REQUEST).await.unwrap(),
        Begun::Completed(response()),
        "and again"
    );
    assert_eq!(
        store.begin(&alice, &OTHER_REQUEST).await.unwrap(),
        Begun::Mismatch
    );
    assert_eq!(
        store.purge_expired().await.unwrap(),
        0,
        "fresh keys are not expired"
    );
    assert_eq!(
        store.begin(&alice, &REQUEST).await.unwrap(),
        Begun::Completed(response()),
        "purging keeps fresh keys"
    );
}

/// Keys belong to their principal (two users never share one); `release` frees a started key
/// so the next request under it starts, whatever it is.
pub async fn idempotency_keys_are_per_principal_and_released<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let alice = UserId::generate();
    let bob = UserId::generate();

    assert_eq!(
        store.begin(&key(alice, "order-1"), &REQUEST).await.unwrap(),
        Begun::Started
    );
    assert_eq!(
        store
            .begin(&key(bob, "order-1"), &OTHER_REQUEST)
            .await
            .unwrap(),
        Begun::Started,
        "the same key of another principal is another key"
    );
    store
        .complete(&key(bob, "order-1"), &response())
        .await
        .unwrap();
    assert_eq!(
        store.begin(&key(alice, "order-1"), &REQUEST).await.unwrap(),
        Begun::InFlight,
        "bob's response is not alice's"
    );

    let failing = key(alice, "order-2");
    assert_eq!(
        store.begin(&failing, &REQUEST).await.unwrap(),
        Begun::Started
    );
    store.release(&failing).await.unwrap();
    assert_eq!(
        store.begin(&failing, &REQUEST).await.unwrap(),
        Begun::Started,
        "a released key is free again"
    );
    store.release(&failing).await.unwrap();
    assert_eq!(
        store.begin(&failing, &OTHER_REQUEST).await.unwrap(),
        Begun::Started,
        "for any request"
    );
    store.complete(&failing, &response()).await.unwrap();
    assert_eq!(
        store.begin(&failing, &OTHER_REQUEST).await.unwrap(),
        Begun::Completed(response())
    );
}

/// Of concurrent `begin`s of one free key, exactly one gets `Started`; the others see the
/// request in flight.
pub async fn concurrent_begins_start_once<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let shared = key(UserId::generate(), "create-once");
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let store = (*store).clone();
            let shared = shared.clone();
            tokio::spawn(async move { store.begin(&shared, &REQUEST).await.unwrap() })
        })
        .collect();
    let answers: Vec<Begun> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("a caller panicked"))
        .collect();
    let started = answers.iter().filter(|a| **a == Begun::Started).count();
    assert_eq!(started, 1, "exactly one Started: {answers:?}");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Begun::Started | Begun::InFlight)),
        "{answers:?}"
    );
}
