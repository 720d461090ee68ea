//! Users and API keys (the `UserStore` port).

use baton_domain::ports::UserStore;
use baton_domain::ports::{PageRequest, Scope, StoreError};
use baton_domain::{
    ApiKeyId, Email, KeyHash, KeyName, NewApiKey, NewUser, Principal, Role, UserId,
};

use crate::StoreFactory;
use crate::support::{assert_not_found, page};

/// A PHC string; stores keep it as given and never check it.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        id: UserId::generate(),
        email: Email::new(email).unwrap(),
        role,
        password_hash: format!("{HASH}-{email}"),
    }
}

fn new_key(owner: UserId, name: &str, byte: u8) -> NewApiKey {
    NewApiKey {
        id: ApiKeyId::generate(),
        owner_id: owner,
        name: KeyName::new(name).unwrap(),
        prefix: format!("bk_{name}"),
        hash: KeyHash([byte; 32]),
    }
}

/// `create_first_user` stores only the first user; emails are unique (`Conflict`);
/// `credentials` finds a user by email with their hash; users list newest first.
pub async fn users_and_credentials<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let admin = new_user("admin@example.com", Role::Admin);
    let first = store
        .create_first_user(admin.clone())
        .await
        .unwrap()
        .expect("no users yet: the first one is created");
    assert_eq!(first.id, admin.id);
    assert_eq!(first.email, admin.email);
    assert_eq!(first.role, Role::Admin);
    assert!(
        store
            .create_first_user(new_user("second@example.com", Role::Admin))
            .await
            .unwrap()
            .is_none(),
        "users exist: no other first user"
    );

    let member = new_user("member@example.com", Role::Member);
    let created = store.create_user(member.clone()).await.unwrap();
    assert_eq!(created.id, member.id);
    assert_eq!(created.role, Role::Member);
    match store
        .create_user(new_user("member@example.com", Role::Admin))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a used email: expected Conflict, got {other:?}"),
    }

    let credentials = store
        .credentials(&Email::new("Member@Example.com").unwrap())
        .await
        .unwrap()
        .expect("the member's credentials");
    assert_eq!(credentials.user, created);
    assert_eq!(credentials.password_hash, member.password_hash);
    assert!(
        store
            .credentials(&Email::new("nobody@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let users = store.list_users(PageRequest::default()).await.unwrap();
    assert_eq!(
        users.items,
        vec![created.clone(), first.clone()],
        "newest first"
    );
    assert_eq!(users.next, None);
    let one = store.list_users(page(1, None)).await.unwrap();
    assert_eq!(one.items, vec![created]);
    let rest = store.list_users(page(1, one.next)).await.unwrap();
    assert_eq!(rest.items, vec![first]);
}

/// Of concurrent `create_first_user` calls on an empty store, exactly one creates a user.
pub async fn the_first_user_is_created_once<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let store = (*store).clone();
            tokio::spawn(async move {
                store
                    .create_first_user(new_user(&format!("admin{i}@example.com"), Role::Admin))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let created: Vec<_> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .filter_map(|r| r.expect("a caller panicked"))
        .collect();
    assert_eq!(created.len(), 1, "exactly one first user: {created:?}");
    let users = store.list_users(PageRequest::default()).await.unwrap();
    assert_eq!(users.items, created);
}

/// An API key acts as its owner (`principal_for_key`) and is listed in its owner's scope until
/// revoked; revoking outside the scope, or twice, is `NotFound`; keys need an existing owner.
pub async fn api_keys_act_as_their_owner_until_revoked<F: StoreFactory>(factory: &F) {
    let store = factory.store().await;
    let admin = store
        .create_user(new_user("admin@example.com", Role::Admin))
        .await
        .unwrap();
    let member = store
        .create_user(new_user("member@example.com", Role::Member))
        .await
        .unwrap();

    let new = new_key(member.id, "ci", 7);
    let key = store.create_api_key(new.clone()).await.unwrap();
    assert_eq!(key.id, new.id);
    assert_eq!(key.owner_id, member.id);
    assert_eq!(key.name, "ci");
    assert_eq!(key.prefix, "bk_ci");
    let admin_key = store
        .create_api_key(new_key(admin.id, "ops", 9))
        .await
        .unwrap();

    assert_eq!(
        store.principal_for_key(&KeyHash([7; 32])).await.unwrap(),
        Some(Principal {
            user: member.id,
            role: Role::Member
        })
    );
    assert_eq!(
        store.principal_for_key(&KeyHash([9; 32])).await.unwrap(),
        Some(Principal {
            user: admin.id,
            role: Role::Admin
        })
    );
    assert_eq!(
        store.principal_for_key(&KeyHash([1; 32])).await.unwrap(),
        None
    );

    let mine = store
        .list_api_keys(Scope::Owner(member.id), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(mine.items, vec![key.clone()]);
    let all = store
        .list_api_keys(Scope::All, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        all.items,
        vec![admin_key.clone(), key.clone()],
        "newest first"
    );

    assert_not_found(
        store.revoke_api_key(Scope::Owner(admin.id), key.id).await,
        "revoking another owner's key",
    );
    assert!(
        store
            .principal_for_key(&KeyHash([7; 32]))
            .await
            .unwrap()
            .is_some()
    );
    store
        .revoke_api_key(Scope::Owner(member.id), key.id)
        .await
        .unwrap();
    assert_eq!(
        store.principal_for_key(&KeyHash([7; 32])).await.unwrap(),
        None,
        "a revoked key acts as nobody"
    );
    assert!(
        store
            .list_api_keys(Scope::Owner(member.id), PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "revoked keys are not listed"
    );
    assert_not_found(
        store.revoke_api_key(Scope::All, key.id).await,
        "revoking a revoked key",
    );
    assert_not_found(
        store.revoke_api_key(Scope::All, ApiKeyId::generate()).await,
        "revoking an unknown key",
    );
    assert!(
        store
            .principal_for_key(&KeyHash([9; 32]))
            .await
            .unwrap()
            .is_some(),
        "other keys still work"
    );
    assert_not_found(
        store
            .create_api_key(new_key(UserId::generate(), "orphan", 3))
            .await,
        "a key of an unknown user",
    );
}
