//! Secrets, sealed: the `SecretStore` port. Every query names the owner, so another user's
//! secret is never found, replaced or deleted.

use async_trait::async_trait;
use baton_domain::ports::{Page, PageRequest, SecretStore, StoreError};
use baton_domain::{NewSecret, SealedSecret, SecretInfo, SecretName, UserId};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::error::{SqlError, from_diesel, violates_unique};
use crate::models::{id_text, uuid};
use crate::schema::secrets;
use crate::store::SqliteStore;
use crate::time::{now, parse};
use crate::users::split_page;

/// What is shown of a secret: everything but its sealed value.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = secrets, check_for_backend(diesel::sqlite::Sqlite))]
struct SecretRow {
    id: String,
    owner_id: String,
    name: String,
    created_at: String,
    updated_at: String,
}

impl SecretRow {
    fn into_info(self) -> anyhow::Result<SecretInfo> {
        SecretName::new(&self.name)?;
        Ok(SecretInfo {
            id: uuid(&self.id)?,
            owner_id: UserId::from_uuid(uuid(&self.owner_id)?),
            name: self.name,
            created_at: parse(&self.created_at)?,
            updated_at: parse(&self.updated_at)?,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = secrets)]
struct NewSecretRow {
    id: String,
    owner_id: String,
    name: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl From<&NewSecret> for NewSecretRow {
    fn from(secret: &NewSecret) -> Self {
        Self {
            id: id_text(&secret.id),
            owner_id: id_text(secret.owner_id.as_uuid()),
            name: secret.name.as_str().to_owned(),
            nonce: secret.sealed.nonce.clone(),
            ciphertext: secret.sealed.ciphertext.clone(),
        }
    }
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn create_secret(&self, secret: &NewSecret) -> Result<SecretInfo, StoreError> {
        let (row, name) = (NewSecretRow::from(secret), secret.name.clone());
        self.write(move |conn| {
            let row: SecretRow = diesel::insert_into(secrets::table)
                .values(row)
                .returning(SecretRow::as_returning())
                .get_result(conn)
                .map_err(|err| {
                    if violates_unique(&err, "secrets.owner_id, secrets.name") {
                        SqlError::Store(StoreError::Conflict(format!(
                            "a secret named {name} exists already"
                        )))
                    } else {
                        SqlError::Diesel(err)
                    }
                })?;
            Ok(row.into_info()?)
        })
        .await
    }

    /// One statement: SQLite's upsert decides between creating and replacing under the write
    /// lock. The row keeps its id on update, so "created" is whether the returned id is the
    /// new one.
    async fn put_secret(&self, secret: &NewSecret) -> Result<(SecretInfo, bool), StoreError> {
        let (row, id) = (NewSecretRow::from(secret), secret.id);
        self.write(move |conn| {
            let row: SecretRow = diesel::insert_into(secrets::table)
                .values(row)
                .on_conflict((secrets::owner_id, secrets::name))
                .do_update()
                .set((
                    secrets::nonce.eq(excluded(secrets::nonce)),
                    secrets::ciphertext.eq(excluded(secrets::ciphertext)),
                    secrets::updated_at.eq(now()),
                ))
                .returning(SecretRow::as_returning())
                .get_result(conn)
                .map_err(|err| SqlError::Store(from_diesel(err)))?;
            let info = row.into_info()?;
            let created = info.id == id;
            Ok((info, created))
        })
        .await
    }

    async fn get_secret(&self, owner: UserId, name: &SecretName) -> Result<SecretInfo, StoreError> {
        let (owner, name) = (id_text(owner.as_uuid()), name.as_str().to_owned());
        self.read(move |conn| {
            let row: Option<SecretRow> = secrets::table
                .filter(secrets::owner_id.eq(owner))
                .filter(secrets::name.eq(name))
                .select(SecretRow::as_select())
                .first(conn)
                .optional()?;
            let row = row.ok_or(StoreError::NotFound("secret"))?;
            Ok(row.into_info()?)
        })
        .await
    }

    async fn list_secrets(
        &self,
        owner: UserId,
        page: PageRequest,
    ) -> Result<Page<SecretInfo>, StoreError> {
        self.read(move |conn| {
            let mut query = secrets::table
                .filter(secrets::owner_id.eq(id_text(owner.as_uuid())))
                .into_boxed();
            if let Some(after) = page.after {
                query = query.filter(secrets::id.lt(id_text(&after)));
            }
            let rows: Vec<SecretRow> = query
                .order(secrets::id.desc())
                .limit(i64::from(page.limit.get()) + 1)
                .select(SecretRow::as_select())
                .load(conn)?;
            let (rows, more) = split_page(rows, page);
            let items = rows
                .into_iter()
                .map(SecretRow::into_info)
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

    async fn delete_secret(&self, owner: UserId, name: &SecretName) -> Result<(), StoreError> {
        let (owner, name) = (id_text(owner.as_uuid()), name.as_str().to_owned());
        self.write(move |conn| {
            let deleted = diesel::delete(
                secrets::table
                    .filter(secrets::owner_id.eq(owner))
                    .filter(secrets::name.eq(name)),
            )
            .execute(conn)?;
            if deleted == 0 {
                return Err(StoreError::NotFound("secret").into());
            }
            Ok(())
        })
        .await
    }

    /// `owner_id = ? AND name IN (…)`: one query however many names.
    async fn sealed_secrets(
        &self,
        owner: UserId,
        names: &[SecretName],
    ) -> Result<Vec<(SecretName, SealedSecret)>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let owner = id_text(owner.as_uuid());
        let wanted: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
        self.read(move |conn| {
            let rows: Vec<(String, Vec<u8>, Vec<u8>)> = secrets::table
                .filter(secrets::owner_id.eq(owner))
                .filter(secrets::name.eq_any(wanted))
                .select((secrets::name, secrets::nonce, secrets::ciphertext))
                .load(conn)?;
            let sealed = rows
                .into_iter()
                .map(|(name, nonce, ciphertext)| {
                    Ok((SecretName::new(&name)?, SealedSecret { nonce, ciphertext }))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(sealed)
        })
        .await
    }
}
