#![doc = include_str!("../README.md")]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use baton_domain::ports::{Page, PageRequest, Scope, StoreError, UserStore};
use baton_domain::{
    ApiKey, ApiKeyId, Credentials, Email, KeyHash, NewApiKey, NewUser, Principal, User,
};
use moka::sync::Cache;

/// How long a key lookup is trusted when no revocation notice arrives.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(60);

/// A [`UserStore`] whose API key lookups are cached.
pub struct CachedUserStore<S> {
    inner: S,
    keys: Cache<KeyHash, Principal>,
    /// Bumped by every invalidation; a lookup only fills the cache if none happened meanwhile.
    generation: Arc<Mutex<u64>>,
}

impl<S: UserStore> CachedUserStore<S> {
    pub fn new(inner: S, ttl: Duration, capacity: u64) -> Self {
        Self {
            inner,
            keys: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
            generation: Arc::new(Mutex::new(0)),
        }
    }

    /// Drops every cached key lookup (a key was revoked, here or on another instance).
    pub fn forget_api_keys(&self) {
        let mut generation = self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *generation += 1;
        self.keys.invalidate_all();
    }

    fn generation(&self) -> u64 {
        *self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: UserStore> UserStore for CachedUserStore<S> {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.inner.create_user(user).await
    }

    async fn create_first_user(&self, user: NewUser) -> Result<Option<User>, StoreError> {
        self.inner.create_first_user(user).await
    }

    async fn list_users(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        self.inner.list_users(page).await
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        self.inner.credentials(email).await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError> {
        self.inner.create_api_key(key).await
    }

    async fn list_api_keys(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StoreError> {
        self.inner.list_api_keys(scope, page).await
    }

    async fn revoke_api_key(&self, scope: Scope, id: ApiKeyId) -> Result<(), StoreError> {
        let result = self.inner.revoke_api_key(scope, id).await;
        // Even on error: the revocation may have committed before the error was seen.
        self.forget_api_keys();
        result
    }

    async fn principal_for_key(&self, hash: &KeyHash) -> Result<Option<Principal>, StoreError> {
        if let Some(principal) = self.keys.get(hash) {
            return Ok(Some(principal));
        }
        let before = self.generation();
        let found = self.inner.principal_for_key(hash).await?;
        if let Some(principal) = found {
            let generation = self
                .generation
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *generation == before {
                self.keys.insert(*hash, principal);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use baton_domain::{Role, UserId};

    use super::*;

    /// Knows one key until it is revoked; counts lookups.
    struct OneKey {
        principal: Principal,
        revoked: Mutex<bool>,
        lookups: AtomicUsize,
    }

    #[async_trait]
    impl UserStore for OneKey {
        async fn create_user(&self, _: NewUser) -> Result<User, StoreError> {
            unimplemented!()
        }
        async fn create_first_user(&self, _: NewUser) -> Result<Option<User>, StoreError> {
            unimplemented!()
        }
        async fn list_users(&self, _: PageRequest) -> Result<Page<User>, StoreError> {
            unimplemented!()
        }
        async fn credentials(&self, _: &Email) -> Result<Option<Credentials>, StoreError> {
            unimplemented!()
        }
        async fn create_api_key(&self, _: NewApiKey) -> Result<ApiKey, StoreError> {
            unimplemented!()
        }
        async fn list_api_keys(
            &self,
            _: Scope,
            _: PageRequest,
        ) -> Result<Page<ApiKey>, StoreError> {
            unimplemented!()
        }
        async fn revoke_api_key(&self, _: Scope, _: ApiKeyId) -> Result<(), StoreError> {
            *self.revoked.lock().unwrap() = true;
            Ok(())
        }
        async fn principal_for_key(&self, _: &KeyHash) -> Result<Option<Principal>, StoreError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            Ok((!*self.revoked.lock().unwrap()).then_some(self.principal))
        }
    }

    #[tokio::test]
    async fn lookups_are_cached_until_a_revocation() {
        let principal = Principal {
            user: UserId::generate(),
            role: Role::Member,
        };
        let store = CachedUserStore::new(
            OneKey {
                principal,
                revoked: Mutex::new(false),
                lookups: AtomicUsize::new(0),
            },
            DEFAULT_KEY_TTL,
            100,
        );
        let hash = KeyHash([7; 32]);
        for _ in 0..3 {
            assert_eq!(
                store.principal_for_key(&hash).await.unwrap(),
                Some(principal)
            );
        }
        assert_eq!(store.inner().lookups.load(Ordering::SeqCst), 1, "cached");

        store
            .revoke_api_key(Scope::All, ApiKeyId::generate())
            .await
            .unwrap();
        assert_eq!(store.principal_for_key(&hash).await.unwrap(), None);
        assert_eq!(store.principal_for_key(&hash).await.unwrap(), None);
        assert_eq!(
            store.inner().lookups.load(Ordering::SeqCst),
            3,
            "unknown keys are not cached"
        );
    }
}
