//! Schedules: the `ScheduleStore` port, and the fenced firing (`fire_schedule`) that moves
//! `next_fire_at` on and creates and starts the tick's run in one transaction.

use async_trait::async_trait;
use baton_domain::ports::{Page, PageRequest, ScheduleStore, Scope, StoreError};
use baton_domain::{FireOutcome, NewSchedule, Schedule, ScheduleFire, UserId};
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{PgError, PgResult, from_diesel};
use crate::schema::{definitions, schedules};
use crate::store::PgStore;
use crate::users::split_page;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = schedules, check_for_backend(diesel::pg::Pg))]
struct ScheduleRow {
    id: Uuid,
    owner_id: Uuid,
    definition: String,
    version: Option<i32>,
    input: Value,
    cron: String,
    timezone: String,
    misfire: String,
    paused: bool,
    next_fire_at: Option<DateTime<Utc>>,
    last_fired_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ScheduleRow {
    fn into_schedule(self) -> Result<Schedule, StoreError> {
        Ok(Schedule {
            id: self.id,
            owner_id: UserId::from_uuid(self.owner_id),
            definition: self.definition,
            version: self.version,
            input: self.input,
            cron: self.cron,
            timezone: self.timezone,
            misfire: self
                .misfire
                .parse()
                .map_err(|e| StoreError::Unknown(anyhow::Error::new(e)))?,
            paused: self.paused,
            next_fire_at: self.next_fire_at,
            last_fired_at: self.last_fired_at,
            last_error: self.last_error,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = schedules)]
struct NewScheduleRow<'a> {
    id: Uuid,
    owner_id: Uuid,
    definition: &'a str,
    version: Option<i32>,
    input: &'a Value,
    cron: &'a str,
    timezone: &'a str,
    misfire: &'a str,
    next_fire_at: Option<DateTime<Utc>>,
}

fn scoped(scope: Scope) -> schedules::BoxedQuery<'static, diesel::pg::Pg> {
    let query = schedules::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(schedules::owner_id.eq(*owner.as_uuid())),
        None => query,
    }
}

async fn load(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: Uuid,
) -> Result<Schedule, StoreError> {
    let row: Option<ScheduleRow> = scoped(scope)
        .filter(schedules::id.eq(id))
        .select(ScheduleRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(from_diesel)?;
    row.ok_or(StoreError::NotFound("schedule"))?.into_schedule()
}

/// Inserts `new` while its definition exists, holding the definition's rows (`FOR KEY SHARE`)
/// until the commit so that deleting the definition waits and then sees the schedule.
async fn create_in(conn: &mut AsyncPgConnection, new: &NewSchedule) -> PgResult<()> {
    let versions: Vec<i32> = definitions::table
        .filter(definitions::owner_id.eq(*new.owner_id.as_uuid()))
        .filter(definitions::name.eq(new.definition.as_str().to_owned()))
        .select(definitions::version)
        .for_key_share()
        .load(conn)
        .await?;
    if !versions
        .iter()
        .any(|v| new.version.is_none_or(|wanted| wanted == *v))
    {
        return Err(StoreError::NotFound("definition").into());
    }
    diesel::insert_into(schedules::table)
        .values(NewScheduleRow {
            id: new.id,
            owner_id: *new.owner_id.as_uuid(),
            definition: new.definition.as_str(),
            version: new.version,
            input: &new.input,
            cron: new.cron.expression(),
            timezone: new.cron.timezone(),
            misfire: new.misfire.as_str(),
            next_fire_at: new.next_fire_at,
        })
        .execute(conn)
        .await?;
    Ok(())
}

/// The fenced firing: the guarded update of the schedule row first (it locks the row, so a
/// concurrent firing of the same tick waits, then matches nothing), then the run.
async fn fire_in(conn: &mut AsyncPgConnection, fire: &ScheduleFire) -> PgResult<bool> {
    let guarded = schedules::table
        .find(fire.schedule_id)
        .filter(schedules::paused.eq(false))
        .filter(schedules::next_fire_at.eq(fire.expected));
    let moved = (
        schedules::next_fire_at.eq(fire.next_fire_at),
        schedules::updated_at.eq(now),
    );
    let updated = match &fire.outcome {
        FireOutcome::Run { .. } => {
            diesel::update(guarded)
                .set((moved, schedules::last_fired_at.eq(now)))
                .execute(conn)
                .await?
        }
        FireOutcome::Skip => diesel::update(guarded).set(moved).execute(conn).await?,
        FireOutcome::Pause { reason } => {
            diesel::update(guarded)
                .set((
                    moved,
                    schedules::paused.eq(true),
                    schedules::last_error.eq(Some(reason.as_str())),
                ))
                .execute(conn)
                .await?
        }
    };
    if updated == 0 {
        return Ok(false);
    }
    if let FireOutcome::Run {
        workflow, start, ..
    } = &fire.outcome
    {
        crate::workflows::create_in(conn, workflow, Some(start)).await?;
    }
    Ok(true)
}

fn second_run_of_a_tick(err: &PgError) -> bool {
    matches!(
        err,
        PgError::Diesel(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
            if info.constraint_name() == Some("workflows_schedule_tick_key")
    )
}

#[async_trait]
impl ScheduleStore for PgStore {
    async fn create_schedule(&self, schedule: &NewSchedule) -> Result<Schedule, StoreError> {
        let mut conn = self.conn().await?;
        let result: PgResult<()> = conn
            .transaction(async |conn| create_in(conn, schedule).await)
            .await;
        result?;
        load(&mut conn, Scope::All, schedule.id).await
    }

    async fn get_schedule(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError> {
        load(&mut *self.conn().await?, scope, id).await
    }

    async fn list_schedules(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Schedule>, StoreError> {
        let mut query = scoped(scope);
        if let Some(after) = page.after {
            query = query.filter(schedules::id.lt(after));
        }
        let read: Vec<ScheduleRow> = query
            .order(schedules::id.desc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(ScheduleRow::as_select())
            .load(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        let page = split_page(read, page, |r| r.id);
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(ScheduleRow::into_schedule)
                .collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    async fn delete_schedule(&self, scope: Scope, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let target = schedules::table.filter(schedules::id.eq(id));
        let deleted = match scope.owner() {
            Some(owner) => {
                diesel::delete(target.filter(schedules::owner_id.eq(*owner.as_uuid())))
                    .execute(&mut *conn)
                    .await
            }
            None => diesel::delete(target).execute(&mut *conn).await,
        }
        .map_err(from_diesel)?;
        if deleted == 0 {
            return Err(StoreError::NotFound("schedule"));
        }
        Ok(())
    }

    async fn pause_schedule(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError> {
        let mut conn = self.conn().await?;
        let current = load(&mut conn, scope, id).await?;
        if !current.paused {
            diesel::update(
                schedules::table
                    .find(id)
                    .filter(schedules::paused.eq(false)),
            )
            .set((schedules::paused.eq(true), schedules::updated_at.eq(now)))
            .execute(&mut *conn)
            .await
            .map_err(from_diesel)?;
        }
        load(&mut conn, Scope::All, id).await
    }

    async fn resume_schedule(
        &self,
        scope: Scope,
        id: Uuid,
        next_fire_at: Option<DateTime<Utc>>,
    ) -> Result<Schedule, StoreError> {
        let mut conn = self.conn().await?;
        load(&mut conn, scope, id).await?;
        diesel::update(schedules::table.find(id).filter(schedules::paused.eq(true)))
            .set((
                schedules::paused.eq(false),
                schedules::next_fire_at.eq(next_fire_at),
                schedules::last_error.eq(None::<String>),
                schedules::updated_at.eq(now),
            ))
            .execute(&mut *conn)
            .await
            .map_err(from_diesel)?;
        load(&mut conn, Scope::All, id).await
    }

    async fn due_schedules(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleRow> = schedules::table
            .filter(schedules::paused.eq(false))
            .filter(schedules::next_fire_at.le(at))
            .order(schedules::next_fire_at.asc())
            .limit(i64::from(limit))
            .select(ScheduleRow::as_select())
            .load(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        rows.into_iter().map(ScheduleRow::into_schedule).collect()
    }

    async fn fire_schedule(&self, fire: &ScheduleFire) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let result: PgResult<bool> = conn
            .transaction(async |conn| fire_in(conn, fire).await)
            .await;
        match result {
            Err(err) if second_run_of_a_tick(&err) => Ok(false),
            other => Ok(other?),
        }
    }
}
