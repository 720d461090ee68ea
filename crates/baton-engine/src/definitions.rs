//! The use cases over workflow definitions: save a version (checked as a workflow would be on
//! creation, templates included), read, list, delete, and run one (a workflow created and
//! started in one go, as `POST /api/workflows` with `start` does).
//!
//! Names are per owner: every call names the owner whose definition it means (the caller, or
//! for an administrator whoever they name); the version of a save is decided here from the
//! latest one read, and the store refuses a second save of that version (`Stale`), so
//! concurrent saves each get a version of their own.

use std::sync::Arc;

use baton_domain::ports::{DefinitionStore, Page, PageRequest, Scope, StoreError};
use baton_domain::{Definition, DefinitionDraft, DefinitionName, NewDefinition, UserId, Workflow};
use serde_json::Value;

use crate::Workflows;

/// How often a save is decided again when another save took its version.
const ATTEMPTS: usize = 5;

/// The use cases over definitions. Cheap to clone.
#[derive(Clone)]
pub struct Definitions {
    store: Arc<dyn DefinitionStore>,
    workflows: Workflows,
}

/// A name from a path: one that cannot be a definition's is not found.
fn name(raw: &str) -> Result<DefinitionName, StoreError> {
    DefinitionName::new(raw).map_err(|_| StoreError::NotFound("definition"))
}

impl Definitions {
    pub fn new(store: Arc<dyn DefinitionStore>, workflows: Workflows) -> Self {
        Self { store, workflows }
    }

    /// The latest version number of `owner`'s `name`, `None` when there is none.
    async fn latest(
        &self,
        owner: UserId,
        name: &DefinitionName,
    ) -> Result<Option<i32>, StoreError> {
        match self.store.get_definition(owner, name, None).await {
            Ok(definition) => Ok(Some(definition.version)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Checks `draft` as a whole: its fields, then its tasks as creating the workflow would.
    async fn checked(
        &self,
        owner: UserId,
        draft: DefinitionDraft,
    ) -> Result<NewDefinition, StoreError> {
        let new = NewDefinition::new(owner, draft)?;
        self.workflows.validate(new.probe()).await?;
        Ok(new)
    }

    /// Saves version 1 of a new name of `owner`. `Conflict` when the name exists (a new
    /// version is a PUT).
    #[tracing::instrument(skip_all, fields(owner = %owner))]
    pub async fn create(
        &self,
        owner: UserId,
        draft: DefinitionDraft,
    ) -> Result<Definition, StoreError> {
        let new = self.checked(owner, draft).await?;
        let latest = self.latest(owner, new.name()).await?;
        let new = new.first(latest)?;
        match self.store.save_definition(&new).await {
            // A concurrent create took version 1: the name exists now.
            Err(StoreError::Stale(_)) => Err(new.first(Some(1)).err().map_or_else(
                || StoreError::Conflict("the definition exists already".into()),
                StoreError::from,
            )),
            other => other,
        }
    }

    /// Saves a new version of `owner`'s name (version 1 when it is new: `true`). `expected`:
    /// the caller's `If-Match`, the latest version it knows.
    #[tracing::instrument(skip_all, fields(owner = %owner))]
    pub async fn put(
        &self,
        owner: UserId,
        draft: DefinitionDraft,
        expected: Option<i32>,
    ) -> Result<(Definition, bool), StoreError> {
        let new = self.checked(owner, draft).await?;
        for _ in 0..ATTEMPTS {
            let latest = self.latest(owner, new.name()).await?;
            let version = new.clone().version(latest, expected)?;
            match self.store.save_definition(&version).await {
                Err(StoreError::Stale(_)) => continue,
                other => return other.map(|d| (d, latest.is_none())),
            }
        }
        Err(StoreError::Conflict(
            "the definition kept changing while this version was saved; try again".into(),
        ))
    }

    /// `owner`'s definition `name`: `version`, or the latest.
    pub async fn get(
        &self,
        owner: UserId,
        raw: &str,
        version: Option<i32>,
    ) -> Result<Definition, StoreError> {
        self.store.get_definition(owner, &name(raw)?, version).await
    }

    /// The latest version of each definition in scope.
    pub async fn list(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Definition>, StoreError> {
        self.store.list_definitions(scope, page).await
    }

    pub async fn versions(
        &self,
        owner: UserId,
        raw: &str,
        page: PageRequest,
    ) -> Result<Page<Definition>, StoreError> {
        self.store
            .definition_versions(owner, &name(raw)?, page)
            .await
    }

    /// Deletes every version. `Conflict` while a schedule runs it.
    #[tracing::instrument(skip_all, fields(owner = %owner))]
    pub async fn delete(&self, owner: UserId, raw: &str) -> Result<(), StoreError> {
        self.store.delete_definition(owner, &name(raw)?).await
    }

    /// Creates and starts a run of `owner`'s definition `name` (`version`, or the latest) for
    /// `runner`, who owns the run: the input merged over the defaults and checked against the
    /// input schema (`Invalid` on `input`, nothing created).
    #[tracing::instrument(skip_all, fields(owner = %owner))]
    pub async fn run(
        &self,
        owner: UserId,
        runner: UserId,
        raw: &str,
        version: Option<i32>,
        input: Option<Value>,
    ) -> Result<Workflow, StoreError> {
        let definition = self.get(owner, raw, version).await?;
        let workflow = definition.run(runner, input)?;
        self.workflows.create(workflow, true).await
    }
}
