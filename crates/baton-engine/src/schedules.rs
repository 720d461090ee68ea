//! The use cases over schedules: create (its definition must be its owner's, and its input fit
//! the definition's schema), read, list, pause, resume, delete. Firing is the scheduler's
//! (`scheduler.rs`).

use std::sync::Arc;

use baton_domain::ports::{
    Clock, DefinitionStore, Page, PageRequest, ScheduleStore, Scope, StoreError,
};
use baton_domain::{DomainError, NewSchedule, Schedule, ScheduleDraft, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The use cases over schedules. Cheap to clone.
#[derive(Clone)]
pub struct Schedules {
    store: Arc<dyn ScheduleStore>,
    definitions: Arc<dyn DefinitionStore>,
    clock: Arc<dyn Clock>,
}

/// An unknown definition, as the field of the request that names it.
fn no_definition(schedule: &NewSchedule) -> StoreError {
    let which = match schedule.version {
        Some(version) => format!("{} at version {version}", schedule.definition),
        None => schedule.definition.to_string(),
    };
    DomainError::invalid(
        "definition",
        format!("you have no definition named {which}: create it with POST /api/definitions"),
    )
    .into()
}

impl Schedules {
    pub fn new(
        store: Arc<dyn ScheduleStore>,
        definitions: Arc<dyn DefinitionStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            definitions,
            clock,
        }
    }

    /// The time now, for showing upcoming ticks.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Checks and stores a schedule of `owner`. An unknown definition (or version) is
    /// `Invalid` on `definition`; an input the definition's schema refuses, `Invalid` on
    /// `input`.
    #[tracing::instrument(skip_all, fields(owner = %owner))]
    pub async fn create(
        &self,
        owner: UserId,
        draft: ScheduleDraft,
    ) -> Result<Schedule, StoreError> {
        let new = NewSchedule::new(owner, draft, self.clock.now())?;
        let definition = match self
            .definitions
            .get_definition(owner, &new.definition, new.version)
            .await
        {
            Ok(definition) => definition,
            Err(StoreError::NotFound(_)) => return Err(no_definition(&new)),
            Err(err) => return Err(err),
        };
        definition.run(owner, Some(new.input.clone()))?;
        match self.store.create_schedule(&new).await {
            Err(StoreError::NotFound("definition")) => Err(no_definition(&new)),
            other => other,
        }
    }

    pub async fn get(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError> {
        self.store.get_schedule(scope, id).await
    }

    pub async fn list(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Schedule>, StoreError> {
        self.store.list_schedules(scope, page).await
    }

    #[tracing::instrument(skip_all, fields(schedule_id = %id))]
    pub async fn delete(&self, scope: Scope, id: Uuid) -> Result<(), StoreError> {
        self.store.delete_schedule(scope, id).await
    }

    /// Pauses it: no tick fires until it is resumed. Pausing a paused one changes nothing.
    #[tracing::instrument(skip_all, fields(schedule_id = %id))]
    pub async fn pause(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError> {
        self.store.pause_schedule(scope, id).await
    }

    /// Resumes it from the first tick after now (paused ticks are not caught up). Resuming one
    /// that is not paused changes nothing.
    #[tracing::instrument(skip_all, fields(schedule_id = %id))]
    pub async fn resume(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError> {
        let schedule = self.store.get_schedule(scope, id).await?;
        match schedule.resume(self.clock.now()) {
            Some(next) => self.store.resume_schedule(scope, id, next).await,
            None => Ok(schedule),
        }
    }
}
