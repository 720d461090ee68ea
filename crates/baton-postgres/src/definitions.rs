//! Workflow definitions: the `DefinitionStore` port. A save is an insert of the version the
//! engine decided; the unique (owner, name, version) key refuses a second save of one version.

use async_trait::async_trait;
use baton_domain::ports::{DefinitionStore, Page, PageRequest, Scope, StoreError};
use baton_domain::{Definition, DefinitionName, NewDefinition, UserId};
use chrono::{DateTime, Utc};
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{PgResult, from_diesel};
use crate::schema::{definitions, schedules};
use crate::store::PgStore;
use crate::users::split_page;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = definitions, check_for_backend(diesel::pg::Pg))]
struct DefinitionRow {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    version: i32,
    description: Option<String>,
    input_schema: Option<Value>,
    defaults: Value,
    tasks: Value,
    created_at: DateTime<Utc>,
}

impl DefinitionRow {
    fn into_definition(self) -> Result<Definition, StoreError> {
        let broken = |e: serde_json::Error| StoreError::Unknown(anyhow::Error::new(e));
        Ok(Definition {
            id: self.id,
            owner_id: UserId::from_uuid(self.owner_id),
            name: self.name,
            version: self.version,
            description: self.description,
            input_schema: self.input_schema,
            defaults: serde_json::from_value(self.defaults).map_err(broken)?,
            tasks: serde_json::from_value(self.tasks).map_err(broken)?,
            created_at: self.created_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = definitions)]
struct NewDefinitionRow<'a> {
    id: Uuid,
    owner_id: Uuid,
    name: &'a str,
    version: i32,
    description: Option<&'a str>,
    input_schema: Option<&'a Value>,
    defaults: Value,
    tasks: Value,
}

fn rows(rows: Vec<DefinitionRow>) -> Result<Vec<Definition>, StoreError> {
    rows.into_iter()
        .map(DefinitionRow::into_definition)
        .collect()
}

fn page_of(
    rows_read: Vec<DefinitionRow>,
    page: PageRequest,
) -> Result<Page<Definition>, StoreError> {
    let page = split_page(rows_read, page, |r| r.id);
    Ok(Page {
        items: rows(page.items)?,
        next: page.next,
    })
}

#[async_trait]
impl DefinitionStore for PgStore {
    async fn save_definition(&self, new: &NewDefinition) -> Result<Definition, StoreError> {
        let encode = |e: serde_json::Error| StoreError::Unknown(anyhow::Error::new(e));
        let row = NewDefinitionRow {
            id: new.id(),
            owner_id: *new.owner_id().as_uuid(),
            name: new.name().as_str(),
            version: new.version_number(),
            description: new.description(),
            input_schema: new.input_schema(),
            defaults: serde_json::to_value(new.defaults()).map_err(encode)?,
            tasks: serde_json::to_value(new.tasks()).map_err(encode)?,
        };
        let saved: DefinitionRow = diesel::insert_into(definitions::table)
            .values(row)
            .returning(DefinitionRow::as_returning())
            .get_result(&mut *self.conn().await?)
            .await
            .map_err(|err| match &err {
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
                    if info.constraint_name() == Some("definitions_owner_name_version_key") =>
                {
                    StoreError::Stale("definition")
                }
                _ => from_diesel(err),
            })?;
        saved.into_definition()
    }

    async fn get_definition(
        &self,
        owner: UserId,
        name: &DefinitionName,
        version: Option<i32>,
    ) -> Result<Definition, StoreError> {
        let mut query = definitions::table
            .filter(definitions::owner_id.eq(*owner.as_uuid()))
            .filter(definitions::name.eq(name.as_str().to_owned()))
            .into_boxed();
        if let Some(version) = version {
            query = query.filter(definitions::version.eq(version));
        }
        let row: Option<DefinitionRow> = query
            .order(definitions::version.desc())
            .select(DefinitionRow::as_select())
            .first(&mut *self.conn().await?)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.ok_or(StoreError::NotFound("definition"))?
            .into_definition()
    }

    /// The latest versions: rows with no newer version of their name (`NOT EXISTS` on the
    /// unique key), newest first.
    async fn list_definitions(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Definition>, StoreError> {
        let newer = diesel::alias!(definitions as newer);
        let mut query = definitions::table
            .filter(not(exists(
                newer
                    .filter(newer.field(definitions::owner_id).eq(definitions::owner_id))
                    .filter(newer.field(definitions::name).eq(definitions::name))
                    .filter(newer.field(definitions::version).gt(definitions::version)),
            )))
            .into_boxed();
        if let Some(owner) = scope.owner() {
            query = query.filter(definitions::owner_id.eq(*owner.as_uuid()));
        }
        if let Some(after) = page.after {
            query = query.filter(definitions::id.lt(after));
        }
        let read: Vec<DefinitionRow> = query
            .order(definitions::id.desc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(DefinitionRow::as_select())
            .load(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        page_of(read, page)
    }

    async fn definition_versions(
        &self,
        owner: UserId,
        name: &DefinitionName,
        page: PageRequest,
    ) -> Result<Page<Definition>, StoreError> {
        let mut query = definitions::table
            .filter(definitions::owner_id.eq(*owner.as_uuid()))
            .filter(definitions::name.eq(name.as_str().to_owned()))
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(definitions::id.lt(after));
        }
        let read: Vec<DefinitionRow> = query
            .order(definitions::id.desc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(DefinitionRow::as_select())
            .load(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        if read.is_empty() && page.after.is_none() {
            return Err(StoreError::NotFound("definition"));
        }
        page_of(read, page)
    }

    async fn delete_definition(
        &self,
        owner: UserId,
        name: &DefinitionName,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let (owner, name) = (*owner.as_uuid(), name.as_str().to_owned());
        let result: PgResult<()> = conn
            .transaction(async |conn| delete_in(conn, owner, &name).await)
            .await;
        Ok(result?)
    }
}

/// Locks the name's versions (a schedule being created for it waits, see `schedules.rs`), then
/// deletes them unless a schedule runs them.
async fn delete_in(conn: &mut AsyncPgConnection, owner: Uuid, name: &str) -> PgResult<()> {
    let locked: Vec<Uuid> = definitions::table
        .filter(definitions::owner_id.eq(owner))
        .filter(definitions::name.eq(name))
        .select(definitions::id)
        .for_update()
        .load(conn)
        .await?;
    if locked.is_empty() {
        return Err(StoreError::NotFound("definition").into());
    }
    let used: i64 = schedules::table
        .filter(schedules::owner_id.eq(owner))
        .filter(schedules::definition.eq(name))
        .count()
        .get_result(conn)
        .await?;
    if used > 0 {
        return Err(StoreError::Conflict(format!(
            "the definition {name} is run by {used} schedule(s); delete them first"
        ))
        .into());
    }
    diesel::delete(definitions::table.filter(definitions::id.eq_any(locked)))
        .execute(conn)
        .await?;
    Ok(())
}
