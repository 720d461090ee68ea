//! The port of secrets. Re-exported from [`crate::ports`].

use async_trait::async_trait;

use crate::ports::{Page, PageRequest, StoreError};
use crate::{NewSecret, SealedSecret, SecretInfo, SecretName, UserId};

/// Persistence of secrets, sealed. A secret belongs to one user (administrators included):
/// every method takes its owner, and another user's secret behaves as if it did not exist.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// Stores a new secret. `Conflict` when its owner has one of this name already.
    async fn create_secret(&self, secret: &NewSecret) -> Result<SecretInfo, StoreError>;

    /// Replaces the sealed value of the owner's secret of this name, keeping its id and
    /// creation time, or stores it when there is none; `true` when it was stored anew.
    /// Atomic: of concurrent calls for a new name, one creates and the others replace.
    async fn put_secret(&self, secret: &NewSecret) -> Result<(SecretInfo, bool), StoreError>;

    /// One secret's details. `NotFound("secret")` when absent.
    async fn get_secret(&self, owner: UserId, name: &SecretName) -> Result<SecretInfo, StoreError>;

    /// The owner's secrets, newest first.
    async fn list_secrets(
        &self,
        owner: UserId,
        page: PageRequest,
    ) -> Result<Page<SecretInfo>, StoreError>;

    /// Deletes a secret. `NotFound("secret")` when absent.
    async fn delete_secret(&self, owner: UserId, name: &SecretName) -> Result<(), StoreError>;

    /// The sealed values of those of `names` the owner has (the others are left out), in one
    /// query.
    async fn sealed_secrets(
        &self,
        owner: UserId,
        names: &[SecretName],
    ) -> Result<Vec<(SecretName, SealedSecret)>, StoreError>;
}
