//! Workflow definitions: the `DefinitionStore` port. A save is an insert of the version the
//! engine decided; the unique (owner, name, version) key refuses a second save of one version.

use async_trait::async_trait;
use baton_domain::ports::{DefinitionStore, Page, PageRequest, Scope, StoreError};
use baton_domain::{Definition, DefinitionName, NewDefinition, UserId};
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use crate::error::{SqlError, violates_unique};
use crate::models::{id_text, json, json_opt, uuid};
use crate::schema::{definitions, schedules};
use crate::store::SqliteStore;
use crate::time::parse;
use crate::users::split_page;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = definitions, check_for_backend(diesel::sqlite::Sqlite))]
struct DefinitionRow {
    id: String,
    owner_id: String,
    name: String,
    version: i32,
    description: Option<String>,
    input_schema: Option<String>,
    defaults: String,
    tasks: String,
    created_at: String,
}

impl DefinitionRow {
    fn into_definition(self) -> anyhow::Result<Definition> {
        Ok(Definition {
            id: uuid(&self.id)?,
            owner_id: UserId::from_uuid(uuid(&self.owner_id)?),
            name: self.name,
            version: self.version,
            description: self.description,
            input_schema: json_opt(self.input_schema.as_deref())?,
            defaults: serde_json::from_value(json(&self.defaults)?)?,
            tasks: serde_json::from_value(json(&self.tasks)?)?,
            created_at: parse(&self.created_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = definitions)]
struct NewDefinitionRow {
    id: String,
    owner_id: String,
    name: String,
    version: i32,
    description: Option<String>,
    input_schema: Option<String>,
    defaults: String,
    tasks: String,
}

impl NewDefinitionRow {
    fn new(new: &NewDefinition) -> anyhow::Result<Self> {
        Ok(Self {
            id: id_text(&new.id()),
            owner_id: id_text(new.owner_id().as_uuid()),
            name: new.name().as_str().to_owned(),
            version: new.version_number(),
            description: new.description().map(str::to_owned),
            input_schema: new.input_schema().map(|s| s.to_string()),
            defaults: serde_json::to_string(new.defaults())?,
            tasks: serde_json::to_string(new.tasks())?,
        })
    }
}

fn page_of(rows: Vec<DefinitionRow>, page: PageRequest) -> anyhow::Result<Page<Definition>> {
    let (rows, more) = split_page(rows, page);
    let items = rows
        .into_iter()
        .map(DefinitionRow::into_definition)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let next = if more {
        items.last().map(|d| d.id)
    } else {
        None
    };
    Ok(Page { items, next })
}

#[async_trait]
impl DefinitionStore for SqliteStore {
    async fn save_definition(&self, new: &NewDefinition) -> Result<Definition, StoreError> {
        let row = NewDefinitionRow::new(new)?;
        self.write(move |conn| {
            let saved: DefinitionRow = diesel::insert_into(definitions::table)
                .values(row)
                .returning(DefinitionRow::as_returning())
                .get_result(conn)
                .map_err(|err| {
                    if violates_unique(
                        &err,
                        "definitions.owner_id, definitions.name, definitions.version",
                    ) {
                        SqlError::Store(StoreError::Stale("definition"))
                    } else {
                        SqlError::Diesel(err)
                    }
                })?;
            Ok(saved.into_definition()?)
        })
        .await
    }

    async fn get_definition(
        &self,
        owner: UserId,
        name: &DefinitionName,
        version: Option<i32>,
    ) -> Result<Definition, StoreError> {
        let (owner, name) = (id_text(owner.as_uuid()), name.as_str().to_owned());
        self.read(move |conn| {
            let mut query = definitions::table
                .filter(definitions::owner_id.eq(owner))
                .filter(definitions::name.eq(name))
                .into_boxed();
            if let Some(version) = version {
                query = query.filter(definitions::version.eq(version));
            }
            let row: Option<DefinitionRow> = query
                .order(definitions::version.desc())
                .select(DefinitionRow::as_select())
                .first(conn)
                .optional()?;
            let row = row.ok_or(StoreError::NotFound("definition"))?;
            Ok(row.into_definition()?)
        })
        .await
    }

    /// The latest versions: rows with no newer version of their name (`NOT EXISTS` on the
    /// unique key), newest first.
    async fn list_definitions(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Definition>, StoreError> {
        self.read(move |conn| {
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
                query = query.filter(definitions::owner_id.eq(id_text(owner.as_uuid())));
            }
            if let Some(after) = page.after {
                query = query.filter(definitions::id.lt(id_text(&after)));
            }
            let rows: Vec<DefinitionRow> = query
                .order(definitions::id.desc())
                .limit(i64::from(page.limit.get()) + 1)
                .select(DefinitionRow::as_select())
                .load(conn)?;
            Ok(page_of(rows, page)?)
        })
        .await
    }

    async fn definition_versions(
        &self,
        owner: UserId,
        name: &DefinitionName,
        page: PageRequest,
    ) -> Result<Page<Definition>, StoreError> {
        let (owner, name) = (id_text(owner.as_uuid()), name.as_str().to_owned());
        self.read(move |conn| {
            let mut query = definitions::table
                .filter(definitions::owner_id.eq(owner))
                .filter(definitions::name.eq(name))
                .into_boxed();
            if let Some(after) = page.after {
                query = query.filter(definitions::id.lt(id_text(&after)));
            }
            let rows: Vec<DefinitionRow> = query
                .order(definitions::id.desc())
                .limit(i64::from(page.limit.get()) + 1)
                .select(DefinitionRow::as_select())
                .load(conn)?;
            if rows.is_empty() && page.after.is_none() {
                return Err(StoreError::NotFound("definition").into());
            }
            Ok(page_of(rows, page)?)
        })
        .await
    }

    /// Under the write lock: the check that no schedule runs it and the delete see one state.
    async fn delete_definition(
        &self,
        owner: UserId,
        name: &DefinitionName,
    ) -> Result<(), StoreError> {
        let (owner, name) = (id_text(owner.as_uuid()), name.as_str().to_owned());
        self.write(move |conn| {
            let used: i64 = schedules::table
                .filter(schedules::owner_id.eq(&owner))
                .filter(schedules::definition.eq(&name))
                .count()
                .get_result(conn)?;
            if used > 0 {
                return Err(StoreError::Conflict(format!(
                    "the definition {name} is run by {used} schedule(s); delete them first"
                ))
                .into());
            }
            let deleted = diesel::delete(
                definitions::table
                    .filter(definitions::owner_id.eq(&owner))
                    .filter(definitions::name.eq(&name)),
            )
            .execute(conn)?;
            if deleted == 0 {
                return Err(StoreError::NotFound("definition").into());
            }
            Ok(())
        })
        .await
    }
}
