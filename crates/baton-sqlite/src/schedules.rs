//! Schedules: the `ScheduleStore` port, and the fenced firing (`fire_schedule`) that moves
//! `next_fire_at` on and creates and starts the tick's run in one `BEGIN IMMEDIATE`
//! transaction. Times this process decided (ticks) are written in the store's one format
//! (`time::text`), so the fence and the due query compare them as text.

use async_trait::async_trait;
use baton_domain::ports::{Page, PageRequest, ScheduleStore, Scope, StoreError};
use baton_domain::{FireOutcome, NewSchedule, Schedule, ScheduleFire, UserId};
use chrono::{DateTime, Utc};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use uuid::Uuid;

use crate::error::{SqlError, SqlResult, violates_unique};
use crate::models::{id_text, json, uuid};
use crate::schema::{definitions, schedules};
use crate::store::SqliteStore;
use crate::time::{now, parse, parse_opt, text};
use crate::users::split_page;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = schedules, check_for_backend(diesel::sqlite::Sqlite))]
struct ScheduleRow {
    id: String,
    owner_id: String,
    definition: String,
    version: Option<i32>,
    input: String,
    cron: String,
    timezone: String,
    misfire: String,
    paused: bool,
    next_fire_at: Option<String>,
    last_fired_at: Option<String>,
    last_error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl ScheduleRow {
    fn into_schedule(self) -> anyhow::Result<Schedule> {
        Ok(Schedule {
            id: uuid(&self.id)?,
            owner_id: UserId::from_uuid(uuid(&self.owner_id)?),
            definition: self.definition,
            version: self.version,
            input: json(&self.input)?,
            cron: self.cron,
            timezone: self.timezone,
            misfire: self.misfire.parse()?,
            paused: self.paused,
            next_fire_at: parse_opt(self.next_fire_at.as_deref())?,
            last_fired_at: parse_opt(self.last_fired_at.as_deref())?,
            last_error: self.last_error,
            created_at: parse(&self.created_at)?,
            updated_at: parse(&self.updated_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = schedules)]
struct NewScheduleRow {
    id: String,
    owner_id: String,
    definition: String,
    version: Option<i32>,
    input: String,
    cron: String,
    timezone: String,
    misfire: String,
    next_fire_at: Option<String>,
}

fn scoped(scope: Scope) -> schedules::BoxedQuery<'static, Sqlite> {
    let query = schedules::table.into_boxed();
    match scope.owner() {
        Some(owner) => query.filter(schedules::owner_id.eq(id_text(owner.as_uuid()))),
        None => query,
    }
}

fn load(conn: &mut SqliteConnection, scope: Scope, id: Uuid) -> SqlResult<Schedule> {
    let row: Option<ScheduleRow> = scoped(scope)
        .filter(schedules::id.eq(id_text(&id)))
        .select(ScheduleRow::as_select())
        .first(conn)
        .optional()?;
    let row = row.ok_or(StoreError::NotFound("schedule"))?;
    Ok(row.into_schedule()?)
}

fn create_in(conn: &mut SqliteConnection, new: &NewSchedule) -> SqlResult<Schedule> {
    let owner = id_text(new.owner_id.as_uuid());
    let mut query = definitions::table
        .filter(definitions::owner_id.eq(owner.clone()))
        .filter(definitions::name.eq(new.definition.as_str().to_owned()))
        .into_boxed();
    if let Some(version) = new.version {
        query = query.filter(definitions::version.eq(version));
    }
    let found: i64 = query.count().get_result(conn)?;
    if found == 0 {
        return Err(StoreError::NotFound("definition").into());
    }
    diesel::insert_into(schedules::table)
        .values(NewScheduleRow {
            id: id_text(&new.id),
            owner_id: owner,
            definition: new.definition.as_str().to_owned(),
            version: new.version,
            input: new.input.to_string(),
            cron: new.cron.expression().to_owned(),
            timezone: new.cron.timezone().to_owned(),
            misfire: new.misfire.as_str().to_owned(),
            next_fire_at: new.next_fire_at.map(text),
        })
        .execute(conn)?;
    load(conn, Scope::All, new.id)
}

/// The fenced firing, under the write lock: the guarded update of the schedule row, then the
/// run (the workflow created and started as `POST /api/workflows?start=true` does).
fn fire_in(conn: &mut SqliteConnection, fire: &ScheduleFire) -> SqlResult<bool> {
    let guarded = schedules::table
        .filter(schedules::id.eq(id_text(&fire.schedule_id)))
        .filter(schedules::paused.eq(false))
        .filter(schedules::next_fire_at.eq(text(fire.expected)));
    let moved = (
        schedules::next_fire_at.eq(fire.next_fire_at.map(text)),
        schedules::updated_at.eq(now()),
    );
    let updated = match &fire.outcome {
        FireOutcome::Run { .. } => diesel::update(guarded)
            .set((moved, schedules::last_fired_at.eq(now().nullable())))
            .execute(conn)?,
        FireOutcome::Skip => diesel::update(guarded).set(moved).execute(conn)?,
        FireOutcome::Pause { reason } => diesel::update(guarded)
            .set((
                moved,
                schedules::paused.eq(true),
                schedules::last_error.eq(Some(reason.clone())),
            ))
            .execute(conn)?,
    };
    if updated == 0 {
        return Ok(false);
    }
    if let FireOutcome::Run {
        workflow, start, ..
    } = &fire.outcome
    {
        crate::workflows::create(conn, workflow, Some(start))?;
    }
    Ok(true)
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn create_schedule(&self, schedule: &NewSchedule) -> Result<Schedule, StoreError> {
        let schedule = schedule.clone();
        self.write(move |conn| create_in(conn, &schedule)).await
    }

    async fn get_schedule(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError> {
        self.read(move |conn| load(conn, scope, id)).await
    }

    async fn list_schedules(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Schedule>, StoreError> {
        self.read(move |conn| {
            let mut query = scoped(scope);
            if let Some(after) = page.after {
                query = query.filter(schedules::id.lt(id_text(&after)));
            }
            let rows: Vec<ScheduleRow> = query
                .order(schedules::id.desc())
                .limit(i64::from(page.limit.get()) + 1)
                .select(ScheduleRow::as_select())
                .load(conn)?;
            let (rows, more) = split_page(rows, page);
            let items = rows
                .into_iter()
                .map(ScheduleRow::into_schedule)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let next = if more {
                items.last().map(|s| s.id)
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn delete_schedule(&self, scope: Scope, id: Uuid) -> Result<(), StoreError> {
        self.write(move |conn| {
            let target = schedules::table.filter(schedules::id.eq(id_text(&id)));
            let deleted = match scope.owner() {
                Some(owner) => {
                    diesel::delete(target.filter(schedules::owner_id.eq(id_text(owner.as_uuid()))))
                        .execute(conn)?
                }
                None => diesel::delete(target).execute(conn)?,
            };
            if deleted == 0 {
                return Err(StoreError::NotFound("schedule").into());
            }
            Ok(())
        })
        .await
    }

    async fn pause_schedule(&self, scope: Scope, id: Uuid) -> Result<Schedule, StoreError> {
        self.write(move |conn| {
            load(conn, scope, id)?;
            diesel::update(
                schedules::table
                    .filter(schedules::id.eq(id_text(&id)))
                    .filter(schedules::paused.eq(false)),
            )
            .set((schedules::paused.eq(true), schedules::updated_at.eq(now())))
            .execute(conn)?;
            load(conn, Scope::All, id)
        })
        .await
    }

    async fn resume_schedule(
        &self,
        scope: Scope,
        id: Uuid,
        next_fire_at: Option<DateTime<Utc>>,
    ) -> Result<Schedule, StoreError> {
        self.write(move |conn| {
            load(conn, scope, id)?;
            diesel::update(
                schedules::table
                    .filter(schedules::id.eq(id_text(&id)))
                    .filter(schedules::paused.eq(true)),
            )
            .set((
                schedules::paused.eq(false),
                schedules::next_fire_at.eq(next_fire_at.map(text)),
                schedules::last_error.eq(None::<String>),
                schedules::updated_at.eq(now()),
            ))
            .execute(conn)?;
            load(conn, Scope::All, id)
        })
        .await
    }

    async fn due_schedules(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Schedule>, StoreError> {
        self.read(move |conn| {
            let rows: Vec<ScheduleRow> = schedules::table
                .filter(schedules::paused.eq(false))
                .filter(schedules::next_fire_at.le(text(at)))
                .order(schedules::next_fire_at.asc())
                .limit(i64::from(limit))
                .select(ScheduleRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(ScheduleRow::into_schedule)
                .collect::<anyhow::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn fire_schedule(&self, fire: &ScheduleFire) -> Result<bool, StoreError> {
        let fire = fire.clone();
        self.write(move |conn| match fire_in(conn, &fire) {
            Err(SqlError::Diesel(err))
                if violates_unique(&err, "workflows.schedule_id, workflows.scheduled_at") =>
            {
                // Rolled back: the tick has its run already.
                Err(SqlError::Store(StoreError::Stale("schedule")))
            }
            other => other,
        })
        .await
        .or_else(|err| match err {
            StoreError::Stale("schedule") => Ok(false),
            other => Err(other),
        })
    }
}
