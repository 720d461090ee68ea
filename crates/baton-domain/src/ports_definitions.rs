//! The ports of workflow definitions and schedules. Re-exported from [`crate::ports`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ports::{Page, PageRequest, Scope, StoreError};
use crate::{
    Definition, DefinitionName, NewDefinition, NewSchedule, Schedule, ScheduleFire, UserId,
};

/// Persistence of definitions: versions of a name per owner, each kept as it was saved.
#[async_trait]
pub trait DefinitionStore: Send + Sync + 'static {
    /// Stores a version decided by the engine ([`NewDefinition::version`]). `Stale
    /// ("definition")`, storing nothing, when the owner has this name at this version already
    /// (a concurrent save took it: read the latest and decide again).
    async fn save_definition(&self, definition: &NewDefinition) -> Result<Definition, StoreError>;

    /// The owner's definition of this name: `version`, or the latest when `None`.
    /// `NotFound("definition")` when absent.
    async fn get_definition(
        &self,
        owner: UserId,
        name: &DefinitionName,
        version: Option<i32>,
    ) -> Result<Definition, StoreError>;

    /// The latest version of each name in scope, newest first (by the latest version's id).
    async fn list_definitions(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Definition>, StoreError>;

    /// The versions of the owner's name, newest first. `NotFound("definition")` when none.
    async fn definition_versions(
        &self,
        owner: UserId,
        name: &DefinitionName,
        page: PageRequest,
    ) -> Result<Page<Definition>, StoreError>;

    /// Deletes every version of the owner's name. `NotFound("definition")` when absent;
    /// `Conflict` (deleting nothing) while a schedule of the owner runs it, checked in the
    /// same transaction as the delete (a schedule created meanwhile cannot slip in).
    async fn delete_definition(
        &self,
        owner: UserId,
        name: &DefinitionName,
    ) -> Result<(), StoreError>;
}

/// Persistence of schedules, and the fenced firing that makes each tick one run.
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// Stores a schedule. `NotFound("definition")` when its owner has no definition of its
    /// name (at its pinned version, when it has one), checked in the same transaction.
    async fn create_schedule(&self, schedule: &NewSchedule) -> Result<Schedule, StoreError>;

    /// `NotFound("schedule")` when absent or out of scope.
    async fn get_schedule(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError>;

    /// Schedules in scope, newest first.
    async fn list_schedules(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Schedule>, StoreError>;

    /// `NotFound("schedule")` when absent or out of scope.
    async fn delete_schedule(&self, scope: Scope, id: Uuid) -> Result<(), StoreError>;

    /// Pauses it (a paused one stays as it is). `NotFound("schedule")` when absent.
    async fn pause_schedule(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError>;

    /// Resumes a paused schedule, due next at `next_fire_at` (decided by
    /// [`Schedule::resume`]), forgetting its `last_error`; one that is not paused stays as
    /// it is. `NotFound("schedule")` when absent.
    async fn resume_schedule(
        &self,
        scope: Scope,
        id: Uuid,
        next_fire_at: Option<DateTime<Utc>>,
    ) -> Result<Schedule, StoreError>;

    /// Schedules not paused whose `next_fire_at` is at or before `now`, the longest due
    /// first, at most `limit`.
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Schedule>, StoreError>;

    /// Applies a decided firing in one transaction: only while the schedule is not paused and
    /// its `next_fire_at` is still `fire.expected`, it moves `next_fire_at` on and, as
    /// `fire.outcome` says, creates and starts the run (tagged with the schedule and tick,
    /// unique per tick), or pauses the schedule with the reason. `false`, changing nothing,
    /// when the fence does not hold (another instance fired it, or it was paused).
    async fn fire_schedule(&self, fire: &ScheduleFire) -> Result<bool, StoreError>;
}
