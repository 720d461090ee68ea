//! Users and API keys: the `UserStore` port.

use async_trait::async_trait;
use baton_domain::ports::{Page, PageRequest, Scope, StoreError, UserStore};
use baton_domain::{
    ApiKey, ApiKeyId, Credentials, Email, KeyHash, NewApiKey, NewUser, Principal, Role, User,
    UserId,
};
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth_schema::{api_keys, users};
use crate::error::{PgError, PgResult, from_diesel};
use crate::events::notify;
use crate::store::PgStore;

/// Channel notified (on commit) with a key id when an API key is revoked, so that every
/// instance drops what it cached about keys.
pub const AUTH_CHANNEL: &str = "baton_auth";

/// Advisory lock serialising "create the first user" across instances ("batonadm").
const FIRST_USER_LOCK: i64 = 0x6261_746f_6e61_646d;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    role: String,
    created_at: DateTime<Utc>,
}

impl UserRow {
    fn into_credentials(self) -> Result<Credentials, StoreError> {
        let unknown = |e: baton_domain::DomainError| StoreError::Unknown(e.into());
        Ok(Credentials {
            user: User {
                id: UserId::from_uuid(self.id),
                email: Email::new(&self.email).map_err(unknown)?,
                role: self.role.parse::<Role>().map_err(unknown)?,
                created_at: self.created_at,
            },
            password_hash: self.password_hash,
        })
    }

    fn into_user(self) -> Result<User, StoreError> {
        self.into_credentials().map(|c| c.user)
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: Uuid,
    email: &'a str,
    password_hash: &'a str,
    role: &'a str,
}

impl<'a> From<&'a NewUser> for NewUserRow<'a> {
    fn from(user: &'a NewUser) -> Self {
        Self {
            id: *user.id.as_uuid(),
            email: user.email.as_str(),
            password_hash: &user.password_hash,
            role: user.role.as_str(),
        }
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
struct ApiKeyRow {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        ApiKey {
            id: ApiKeyId::from_uuid(row.id),
            owner_id: UserId::from_uuid(row.owner_id),
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
struct NewApiKeyRow<'a> {
    id: Uuid,
    owner_id: Uuid,
    name: &'a str,
    prefix: &'a str,
    key_hash: &'a [u8],
}

fn duplicate_email(err: DieselError) -> StoreError {
    match &err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("users_email_key") =>
        {
            StoreError::Conflict("a user with this email already exists".into())
        }
        _ => from_diesel(err),
    }
}

async fn insert_user(conn: &mut AsyncPgConnection, user: &NewUser) -> PgResult<User> {
    let row: UserRow = diesel::insert_into(users::table)
        .values(NewUserRow::from(user))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .map_err(|e| PgError::Store(duplicate_email(e)))?;
    Ok(row.into_user()?)
}

/// One more than a page, to tell whether another page follows.
pub(crate) fn split_page<T>(
    mut rows: Vec<T>,
    page: PageRequest,
    id: impl Fn(&T) -> Uuid,
) -> Page<T> {
    let limit = page.limit.get() as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(id) } else { None };
    Page { items: rows, next }
}

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        Ok(insert_user(&mut *self.conn().await?, &user).await?)
    }

    async fn create_first_user(&self, user: NewUser) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn().await?;
        let result: PgResult<Option<User>> = conn
            .transaction(async |conn| {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<BigInt, _>(FIRST_USER_LOCK)
                    .execute(conn)
                    .await?;
                let any: bool = diesel::select(diesel::dsl::exists(users::table.select(users::id)))
                    .get_result(conn)
                    .await?;
                if any {
                    return Ok(None);
                }
                insert_user(conn, &user).await.map(Some)
            })
            .await;
        Ok(result?)
    }

    async fn list_users(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        let mut query = users::table.into_boxed();
        if let Some(after) = page.after {
            query = query.filter(users::id.lt(after));
        }
        let rows: Vec<UserRow> = query
            .order(users::id.desc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(UserRow::as_select())
            .load(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        let page = split_page(rows, page, |r| r.id);
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(UserRow::into_user)
                .collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let row: Option<UserRow> = users::table
            .filter(users::email.eq(email.as_str()))
            .select(UserRow::as_select())
            .first(&mut *self.conn().await?)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(UserRow::into_credentials).transpose()
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError> {
        let row: ApiKeyRow = diesel::insert_into(api_keys::table)
            .values(NewApiKeyRow {
                id: *key.id.as_uuid(),
                owner_id: *key.owner_id.as_uuid(),
                name: key.name.as_str(),
                prefix: &key.prefix,
                key_hash: &key.hash.0,
            })
            .returning(ApiKeyRow::as_returning())
            .get_result(&mut *self.conn().await?)
            .await
            .map_err(|err| match err {
                DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                    StoreError::NotFound("user")
                }
                other => from_diesel(other),
            })?;
        Ok(row.into())
    }

    async fn list_api_keys(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StoreError> {
        let mut query = api_keys::table
            .filter(api_keys::revoked_at.is_null())
            .into_boxed();
        if let Some(owner) = scope.owner() {
            query = query.filter(api_keys::owner_id.eq(*owner.as_uuid()));
        }
        if let Some(after) = page.after {
            query = query.filter(api_keys::id.lt(after));
        }
        let rows: Vec<ApiKeyRow> = query
            .order(api_keys::id.desc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(ApiKeyRow::as_select())
            .load(&mut *self.conn().await?)
            .await
            .map_err(from_diesel)?;
        let page = split_page(rows, page, |r| r.id);
        Ok(Page {
            items: page.items.into_iter().map(Into::into).collect(),
            next: page.next,
        })
    }

    async fn revoke_api_key(&self, scope: Scope, id: ApiKeyId) -> Result<(), StoreError> {
        let id = *id.as_uuid();
        let mut conn = self.conn().await?;
        let result: PgResult<()> = conn
            .transaction(async |conn| {
                let mut target = api_keys::table
                    .filter(api_keys::id.eq(id))
                    .filter(api_keys::revoked_at.is_null())
                    .into_boxed();
                if let Some(owner) = scope.owner() {
                    target = target.filter(api_keys::owner_id.eq(*owner.as_uuid()));
                }
                let found: Option<Uuid> =
                    target.select(api_keys::id).first(conn).await.optional()?;
                let revoked = match found {
                    Some(_) => {
                        diesel::update(
                            api_keys::table
                                .find(id)
                                .filter(api_keys::revoked_at.is_null()),
                        )
                        .set(api_keys::revoked_at.eq(now))
                        .execute(conn)
                        .await?
                    }
                    None => 0,
                };
                if revoked == 0 {
                    return Err(StoreError::NotFound("api key").into());
                }
                notify(conn, AUTH_CHANNEL, &id.to_string()).await
            })
            .await;
        Ok(result?)
    }

    async fn principal_for_key(&self, hash: &KeyHash) -> Result<Option<Principal>, StoreError> {
        let row: Option<(Uuid, String)> = api_keys::table
            .inner_join(users::table)
            .filter(api_keys::key_hash.eq(&hash.0[..]))
            .filter(api_keys::revoked_at.is_null())
            .select((users::id, users::role))
            .first(&mut *self.conn().await?)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(|(id, role)| {
            Ok(Principal {
                user: UserId::from_uuid(id),
                role: role
                    .parse::<Role>()
                    .map_err(|e| StoreError::Unknown(e.into()))?,
            })
        })
        .transpose()
    }
}
