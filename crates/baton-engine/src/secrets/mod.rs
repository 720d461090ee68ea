//! Secrets: the use cases over a user's secrets, and what a task gets of them when it runs.
//!
//! A value is sealed with the [`SecretsKey`] before it reaches the store and opened only for a
//! task that names it (`{{ secrets.NAME }}`). The task's input is rendered twice: with the
//! values, to be sent, and with [`SECRET_MASK`](baton_domain::SECRET_MASK) in their place, to
//! be kept and shown; what the task answers passes through a [`Redactor`] before it is kept.

mod keyring;
mod redact;

use std::sync::Arc;

use baton_domain::ports::{Page, PageRequest, SecretStore, StoreError};
use baton_domain::{
    DomainError, FieldError, NewSecret, SECRET_MASK, SecretInfo, SecretName, SecretValue,
    TaskError, UserId,
};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use keyring::{KEY_BYTES, SecretsKey};
pub use redact::Redactor;

/// Why secrets cannot be used: no key was given.
pub const SECRETS_OFF: &str = "secrets are off: set BATON_SECRETS_KEY (32 random bytes in \
    base64: `openssl rand -base64 32`) and restart Baton";

/// The use cases over secrets. Cheap to clone.
#[derive(Clone)]
pub struct Secrets {
    store: Arc<dyn SecretStore>,
    key: Option<SecretsKey>,
}

impl Secrets {
    /// `key`: `None` turns secrets off (creating one is refused, saying what to set).
    pub fn new(store: Arc<dyn SecretStore>, key: Option<SecretsKey>) -> Self {
        Self { store, key }
    }

    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    fn key(&self) -> Result<&SecretsKey, StoreError> {
        self.key
            .as_ref()
            .ok_or_else(|| StoreError::Conflict(SECRETS_OFF.to_owned()))
    }

    /// Stores a new secret of `owner`. `Conflict` when one of this name exists.
    #[tracing::instrument(skip_all, fields(owner = %owner))]
    pub async fn create(
        &self,
        owner: UserId,
        name: &str,
        value: String,
    ) -> Result<SecretInfo, StoreError> {
        let secret = self.sealed(owner, name, value)?;
        self.store.create_secret(&secret).await
    }

    /// Replaces the value of `owner`'s secret `name`, or creates it; `true` when created.
    #[tracing::instrument(skip_all, fields(owner = %owner))]
    pub async fn put(
        &self,
        owner: UserId,
        name: &str,
        value: String,
    ) -> Result<(SecretInfo, bool), StoreError> {
        let secret = self.sealed(owner, name, value)?;
        self.store.put_secret(&secret).await
    }

    pub async fn get(&self, owner: UserId, name: &str) -> Result<SecretInfo, StoreError> {
        let name = SecretName::new(name).map_err(|_| StoreError::NotFound("secret"))?;
        self.store.get_secret(owner, &name).await
    }

    pub async fn list(
        &self,
        owner: UserId,
        page: PageRequest,
    ) -> Result<Page<SecretInfo>, StoreError> {
        self.store.list_secrets(owner, page).await
    }

    #[tracing::instrument(skip_all, fields(owner = %owner))]
    pub async fn delete(&self, owner: UserId, name: &str) -> Result<(), StoreError> {
        let name = SecretName::new(name).map_err(|_| StoreError::NotFound("secret"))?;
        self.store.delete_secret(owner, &name).await
    }

    /// Those of `names` that `owner` has no secret of (all of them when secrets are off).
    pub async fn missing(
        &self,
        owner: UserId,
        names: &[SecretName],
    ) -> Result<Vec<SecretName>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        if self.key.is_none() {
            return Ok(names.to_vec());
        }
        let found = self.store.sealed_secrets(owner, names).await?;
        Ok(names
            .iter()
            .filter(|name| !found.iter().any(|(have, _)| have == *name))
            .cloned()
            .collect())
    }

    /// The values of `names` for a task of `owner` about to run. A missing secret fails the
    /// task for good, naming it; a store that does not answer lets it try again.
    pub async fn open(&self, owner: UserId, names: &[SecretName]) -> Result<Opened, TaskError> {
        if names.is_empty() {
            return Ok(Opened::default());
        }
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| TaskError::permanent("secret", SECRETS_OFF))?;
        let sealed = self.store.sealed_secrets(owner, names).await.map_err(|e| {
            TaskError::retryable("store", format!("cannot read the task's secrets: {e}"))
        })?;
        let mut values = Vec::with_capacity(names.len());
        for name in names {
            let Some((_, sealed)) = sealed.iter().find(|(have, _)| have == name) else {
                return Err(TaskError::permanent(
                    "secret",
                    format!(
                        "there is no secret named `{name}` (it may have been deleted since the \
                         workflow was created): create it with POST /api/secrets"
                    ),
                ));
            };
            let value = key
                .open(owner, name, sealed)
                .map_err(|e| TaskError::permanent("secret", e.to_string()))?;
            values.push((name.clone(), value));
        }
        Ok(Opened { values })
    }

    fn sealed(&self, owner: UserId, name: &str, value: String) -> Result<NewSecret, StoreError> {
        let key = self.key()?;
        let name = SecretName::new(name);
        let value = SecretValue::new(value);
        let (name, value) = match (name, value) {
            (Ok(name), Ok(value)) => (name, value),
            (name, value) => {
                let fields: Vec<FieldError> = [name.err(), value.err()]
                    .into_iter()
                    .flatten()
                    .flat_map(|e| match e {
                        DomainError::Invalid(fields) => fields,
                        _ => Vec::new(),
                    })
                    .collect();
                return Err(DomainError::Invalid(fields).into());
            }
        };
        let sealed = key.seal(owner, &name, &value)?;
        Ok(NewSecret {
            id: Uuid::now_v7(),
            owner_id: owner,
            name,
            sealed,
        })
    }
}

/// The secrets a task named, opened.
#[derive(Debug, Default)]
pub struct Opened {
    values: Vec<(SecretName, SecretValue)>,
}

impl Opened {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `secrets` as templates see it when the input is rendered to be sent.
    pub fn clear(&self) -> Value {
        self.object(|value| value.expose().to_owned())
    }

    /// `secrets` as templates see it when the input is rendered to be kept and shown.
    pub fn masked(&self) -> Value {
        self.object(|_| SECRET_MASK.to_owned())
    }

    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.values.iter().map(|(_, v)| v.expose().to_owned()))
    }

    fn object(&self, show: impl Fn(&SecretValue) -> String) -> Value {
        Value::Object(
            self.values
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), Value::String(show(value))))
                .collect::<Map<_, _>>(),
        )
    }
}
