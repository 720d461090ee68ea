//! Secrets (the `SecretStore` port): sealed values, one of a name per owner, invisible to
//! everyone else, never shown.

use baton_domain::ports::{PageRequest, SecretStore, StoreError};
use baton_domain::{NewSecret, SealedSecret, SecretName, UserId};
use uuid::Uuid;

use crate::StoreFactory;
use crate::support::page;

fn name(raw: &str) -> SecretName {
    SecretName::new(raw).unwrap()
}

/// Readable inside every ciphertext, to check that nothing shown carries it.
const MARK: &str = "hunter22";

/// Sealed bytes as an engine would make them: a 12-byte nonce and a ciphertext that holds
/// bytes text would not (NUL, 0xff, a lone 0x80), so a store that keeps them as text fails.
fn sealed(seed: u8) -> SealedSecret {
    let mut ciphertext = vec![0, seed, 0xff, 0x80];
    ciphertext.extend_from_slice(MARK.as_bytes());
    ciphertext.push(0);
    SealedSecret {
        nonce: (0..12).map(|i| seed.wrapping_add(i)).collect(),
        ciphertext,
    }
}

fn new_secret(owner: UserId, raw: &str, seed: u8) -> NewSecret {
    NewSecret {
        id: Uuid::now_v7(),
        owner_id: owner,
        name: name(raw),
        sealed: sealed(seed),
    }
}

/// Fails unless `result` is `NotFound("secret")`.
fn assert_no_secret<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound("secret")) => {}
        other => panic!("{what}: expected NotFound(\"secret\"), got {other:?}"),
    }
}

/// Create, get and list show a secret's name, owner and times, nothing of its value; a name is
/// unique per owner (`Conflict`), while another owner may use it too.
pub async fn secrets_round_trip<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let new = new_secret(owner, "API_KEY", 1);
    let info = store.create_secret(&new).await.unwrap();
    assert_eq!(info.id, new.id);
    assert_eq!(info.owner_id, owner);
    assert_eq!(info.name, "API_KEY");
    assert_eq!(
        info.created_at, info.updated_at,
        "a new secret was never updated"
    );

    let got = store.get_secret(owner, &new.name).await.unwrap();
    assert_eq!(got, info);
    let listed = store
        .list_secrets(owner, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![info.clone()]);
    assert_eq!(listed.next, None);
    let shown = format!("{got:?} {listed:?}");
    assert!(
        !shown.contains(MARK),
        "nothing of the value is shown: {shown}"
    );

    match store.create_secret(&new_secret(owner, "API_KEY", 2)).await {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("API_KEY"), "names the secret: {message}")
        }
        other => panic!("a used name: expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_secret(owner, &new.name).await.unwrap(),
        info,
        "the refused secret changed nothing"
    );

    let other = UserId::generate();
    let theirs = store
        .create_secret(&new_secret(other, "API_KEY", 3))
        .await
        .expect("another owner may use the same name");
    assert_eq!(theirs.owner_id, other);
    assert_ne!(theirs.id, info.id);
}

/// Another owner's secret behaves as if it did not exist: get and delete are
/// `NotFound("secret")`, lists and sealed values leave it out.
pub async fn secrets_belong_to_their_owner<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let stranger = UserId::generate();
    let mine = store
        .create_secret(&new_secret(owner, "TOKEN", 1))
        .await
        .unwrap();
    let theirs = store
        .create_secret(&new_secret(stranger, "OTHER", 2))
        .await
        .unwrap();

    assert_no_secret(
        store.get_secret(stranger, &name("TOKEN")).await,
        "reading another owner's secret",
    );
    assert_no_secret(
        store.delete_secret(stranger, &name("TOKEN")).await,
        "deleting another owner's secret",
    );
    assert_eq!(
        store.get_secret(owner, &name("TOKEN")).await.unwrap(),
        mine,
        "still there for its owner"
    );

    let listed = store
        .list_secrets(owner, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![mine], "only the owner's");
    let listed = store
        .list_secrets(stranger, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![theirs]);

    let sealed = store
        .sealed_secrets(stranger, &[name("TOKEN")])
        .await
        .unwrap();
    assert!(sealed.is_empty(), "no sealed value of another owner's");
}

/// `put_secret` creates a new name (`true`), then replaces its sealed value (`false`), keeping
/// the id and creation time.
pub async fn put_creates_then_replaces<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let first = new_secret(owner, "WEBHOOK", 1);
    let (created, fresh) = store.put_secret(&first).await.unwrap();
    assert!(fresh, "a new name is created");
    assert_eq!(created.id, first.id);
    assert_eq!(created.name, "WEBHOOK");
    assert_eq!(store.get_secret(owner, &first.name).await.unwrap(), created);

    let second = new_secret(owner, "WEBHOOK", 2);
    let (replaced, fresh) = store.put_secret(&second).await.unwrap();
    assert!(!fresh, "an existing name is replaced");
    assert_eq!(replaced.id, created.id, "the id is kept");
    assert_eq!(replaced.owner_id, owner);
    assert_eq!(
        replaced.created_at, created.created_at,
        "the creation time is kept"
    );
    assert!(
        replaced.updated_at >= created.updated_at,
        "updated_at does not go back"
    );
    assert_eq!(
        store.get_secret(owner, &first.name).await.unwrap(),
        replaced
    );
    assert_eq!(
        store
            .sealed_secrets(owner, std::slice::from_ref(&first.name))
            .await
            .unwrap(),
        vec![(first.name.clone(), second.sealed.clone())],
        "the new sealed value"
    );
    let listed = store
        .list_secrets(owner, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![replaced], "still one secret");
}

/// Of concurrent `put_secret` calls for a new name, exactly one creates it; the others replace
/// it, and all answer the one secret.
pub async fn concurrent_puts_create_once<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let store = (*store).clone();
            tokio::spawn(async move {
                store
                    .put_secret(&new_secret(owner, "RACE", i))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("a caller panicked"))
        .collect();
    let created = results.iter().filter(|(_, created)| *created).count();
    assert_eq!(created, 1, "exactly one creates: {results:?}");
    let id = results[0].0.id;
    assert!(
        results.iter().all(|(info, _)| info.id == id),
        "one secret: {results:?}"
    );
    let listed = store
        .list_secrets(owner, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
}

/// `sealed_secrets` answers the owner's secrets among the names asked for, with their exact
/// bytes, and leaves out names it does not have.
pub async fn sealed_secrets_returns_only_what_exists<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let a = new_secret(owner, "A", 7);
    store.create_secret(&a).await.unwrap();
    store
        .create_secret(&new_secret(owner, "NOT_ASKED", 8))
        .await
        .unwrap();

    let sealed = store
        .sealed_secrets(owner, &[name("A"), name("MISSING")])
        .await
        .unwrap();
    assert_eq!(sealed, vec![(name("A"), a.sealed.clone())]);
    assert_eq!(sealed[0].1.nonce, a.sealed.nonce, "the exact nonce");
    assert_eq!(
        sealed[0].1.ciphertext, a.sealed.ciphertext,
        "the exact ciphertext"
    );

    assert!(
        store.sealed_secrets(owner, &[]).await.unwrap().is_empty(),
        "no names, no values"
    );
    assert!(
        store
            .sealed_secrets(owner, &[name("MISSING")])
            .await
            .unwrap()
            .is_empty()
    );
}

/// A deleted secret is gone: not found, not deletable again, not listed, no sealed value; its
/// name is free again.
pub async fn deleted_secrets_are_gone<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    store
        .create_secret(&new_secret(owner, "GONE", 1))
        .await
        .unwrap();
    let kept = store
        .create_secret(&new_secret(owner, "KEPT", 2))
        .await
        .unwrap();

    store.delete_secret(owner, &name("GONE")).await.unwrap();
    assert_no_secret(
        store.get_secret(owner, &name("GONE")).await,
        "reading a deleted secret",
    );
    assert_no_secret(
        store.delete_secret(owner, &name("GONE")).await,
        "deleting a deleted secret",
    );
    assert_no_secret(
        store.delete_secret(owner, &name("NEVER")).await,
        "deleting an unknown secret",
    );
    let listed = store
        .list_secrets(owner, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![kept]);
    let sealed = store
        .sealed_secrets(owner, &[name("GONE"), name("KEPT")])
        .await
        .unwrap();
    let names: Vec<&str> = sealed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["KEPT"]);

    store
        .create_secret(&new_secret(owner, "GONE", 3))
        .await
        .expect("a deleted secret's name is free again");
}

/// Pages of 2 over 5 secrets, with secrets created (by the owner and by someone else) between
/// the reads: each of the 5 is seen exactly once, newest first.
pub async fn secret_pages_are_stable<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let owner = UserId::generate();
    let stranger = UserId::generate();
    let mut old = Vec::new();
    for i in 0..5u8 {
        let new = new_secret(owner, &format!("OLD_{i}"), i);
        store.create_secret(&new).await.unwrap();
        old.push(new.id);
        store
            .create_secret(&new_secret(stranger, &format!("OLD_{i}"), i))
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    let mut after: Option<Uuid> = None;
    let mut pages = 0u8;
    loop {
        let got = store.list_secrets(owner, page(2, after)).await.unwrap();
        pages += 1;
        assert!(got.items.len() <= 2, "at most the limit");
        assert!(
            got.items.iter().all(|s| s.owner_id == owner),
            "only the owner's"
        );
        seen.extend(got.items.iter().map(|s| s.id));
        store
            .create_secret(&new_secret(owner, &format!("NEWER_{pages}"), pages))
            .await
            .unwrap();
        store
            .create_secret(&new_secret(stranger, &format!("NEWER_{pages}"), pages))
            .await
            .unwrap();
        match got.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 10, "the pages end");
    }
    old.reverse();
    assert_eq!(seen, old, "each old secret once, newest first");
    assert_eq!(pages, 3, "5 secrets in pages of 2");
}
