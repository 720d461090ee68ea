//! Secrets, sealed: the `SecretStore` port. Every query names the owner, so another user's
//! secret is never found, replaced or deleted.

use async_trait::async_trait;
use baton_domain::ports::{Page, PageRequest, SecretStore, StoreError};
use baton_domain::{DomainError, NewSecret, SealedSecret, SecretInfo, SecretName, UserId};
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::from_diesel;
use crate::schema::secrets;
use crate::store::PgStore;
use crate::users::split_page;

/// What is shown of a secret: everything but its sealed value.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = secrets, check_for_backend(diesel::pg::Pg))]
struct SecretRow {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl SecretRow {
    fn into_info(self) -> Result<SecretInfo, StoreError> {
        SecretName::new(&self.name).map_err(unknown)?;
        Ok(SecretInfo {
            id: self.id,
            owner_id: UserId::from_uuid(self.owner_id),
            name: self.name,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = secrets)]
struct NewSecretRow<'a> {
    id: Uuid,
    owner_id: Uuid,
    name: &'a str,
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

impl<'a> From<&'a NewSecret> for NewSecretRow<'a> {
    fn from(secret: &'a NewSecret) -> Self {
        Self {
            id: secret.id,
            owner_id: *secret.owner_id.as_uuid(),
            name: secret.name.as_str(),
            nonce: &secret.sealed.nonce,
            ciphertext: &secret.sealed.ciphertext,
        }
    }
}

/// A stored name that is no longer a valid one: the data is broken, not the request.
fn unknown(err: DomainError) -> StoreError {
    StoreError::Unknown(err.into())
}

fn duplicate_name(err: DieselError, name: &SecretName) -> StoreError {
    match &err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("secrets_owner_id_name_key") =>
        {
            StoreError::Conflict(format!("a secret named {name} exists already"))
        }
        _ => from_diesel(err),
    }
}

#[async_trait]
impl SecretStore for PgStore {
    async fn create_secret(&self, secret: &NewSecret) -> Result<SecretInfo, StoreError> {
        let row: SecretRow = diesel::insert_into(secrets::table)
            .values(NewSecretRow::from(secret))
            .returning(SecretRow::as_returning())
            .get_result(&mut *self.conn().await?)
            .await
            .map_err(|err| duplicate_name(err, &secret.name))?;
        row.into_info()
    }

    /// One statement: Postgres' upsert decides between creating and replacing atomically. The
    /// row keeps its id on update, so "created" is whether the returned id is the new one.
    async fn put_secret(&self, secret: &NewSecret) -> Result<(SecretInfo, bool), StoreError> {
        let row: SecretRow = diesel::insert_into(secrets::table)
            .values(NewSecretRow::from(secret))
            .on_conflict((secrets::owner_id, secrets::name))
            .do_update()
            .set((
                secrets::nonce.eq(excluded(secrets::nonce)),
                secrets::ciphertext.eq(excluded(secrets::ciphertext)),
                secrets::updated_at.eq(now),
            ))
            .returning(SecretRow::as_returning())
            .get_result(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        let created = row.id == secret.id;
        Ok((row.into_info()?, created))
    }

    async fn get_secret(&self, owner: UserId, name: &SecretName) -> Result<SecretInfo, StoreError> {
        let row: Option<SecretRow> = secrets::table
            .filter(secrets::owner_id.eq(*owner.as_uuid()))
            .filter(secrets::name.eq(name.as_str()))
            .select(SecretRow::as_select())
            .first(&mut *self.conn().await?)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.ok_or(StoreError::NotFound("secret"))?.into_info()
    }

    async fn list_secrets(
        &self,
        owner: UserId,
        page: PageRequest,
    ) -> Result<Page<SecretInfo>, StoreError> {
        let mut query = secrets::table
            .filter(secrets::owner_id.eq(*owner.as_uuid()))
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(secrets::id.lt(after));
        }
        let rows: Vec<SecretRow> = query
            .order(secrets::id.desc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(SecretRow::as_select())
            .load(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        let page = split_page(rows, page, |r| r.id);
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(SecretRow::into_info)
                .collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    async fn delete_secret(&self, owner: UserId, name: &SecretName) -> Result<(), StoreError> {
        let deleted = diesel::delete(
            secrets::table
                .filter(secrets::owner_id.eq(*owner.as_uuid()))
                .filter(secrets::name.eq(name.as_str())),
        )
        .execute(&mut *self.conn().await?)
        .await
        .map_err(from_diesel)?;
        if deleted == 0 {
            return Err(StoreError::NotFound("secret"));
        }
        Ok(())
    }

    /// `owner_id = $1 AND name = ANY($2)`: one query however many names.
    async fn sealed_secrets(
        &self,
        owner: UserId,
        names: &[SecretName],
    ) -> Result<Vec<(SecretName, SealedSecret)>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<&str> = names.iter().map(SecretName::as_str).collect();
        let rows: Vec<(String, Vec<u8>, Vec<u8>)> = secrets::table
            .filter(secrets::owner_id.eq(*owner.as_uuid()))
            .filter(secrets::name.eq_any(wanted))
            .select((secrets::name, secrets::nonce, secrets::ciphertext))
            .load(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        rows.into_iter()
            .map(|(name, nonce, ciphertext)| {
                Ok((
                    SecretName::new(&name).map_err(unknown)?,
                    SealedSecret { nonce, ciphertext },
                ))
            })
            .collect()
    }
}
