//! Users and API keys: the `UserStore` port.

use async_trait::async_trait;
use baton_domain::ports::{Page, PageRequest, Scope, StoreError, UserStore};
use baton_domain::{
    ApiKey, ApiKeyId, Credentials, Email, KeyHash, NewApiKey, NewUser, Principal, Role, User,
    UserId,
};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::error::{SqlError, SqlResult, from_diesel, violates_unique};
use crate::models::{id_text, uuid};
use crate::schema::{api_keys, users};
use crate::store::SqliteStore;
use crate::time::{now, parse};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::sqlite::Sqlite))]
struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    role: String,
    created_at: String,
}

impl UserRow {
    fn into_credentials(self) -> anyhow::Result<Credentials> {
        Ok(Credentials {
            user: User {
                id: UserId::from_uuid(uuid(&self.id)?),
                email: Email::new(&self.email)?,
                role: self.role.parse::<Role>()?,
                created_at: parse(&self.created_at)?,
            },
            password_hash: self.password_hash,
        })
    }

    fn into_user(self) -> anyhow::Result<User> {
        self.into_credentials().map(|c| c.user)
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::sqlite::Sqlite))]
struct ApiKeyRow {
    id: String,
    owner_id: String,
    name: String,
    prefix: String,
    created_at: String,
}

impl ApiKeyRow {
    fn into_key(self) -> anyhow::Result<ApiKey> {
        Ok(ApiKey {
            id: ApiKeyId::from_uuid(uuid(&self.id)?),
            owner_id: UserId::from_uuid(uuid(&self.owner_id)?),
            name: self.name,
            prefix: self.prefix,
            created_at: parse(&self.created_at)?,
        })
    }
}

fn insert_user(conn: &mut SqliteConnection, user: &NewUser) -> SqlResult<User> {
    let row: UserRow = diesel::insert_into(users::table)
        .values((
            users::id.eq(id_text(user.id.as_uuid())),
            users::email.eq(user.email.as_str()),
            users::password_hash.eq(&user.password_hash),
            users::role.eq(user.role.as_str()),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .map_err(|err| {
            if violates_unique(&err, "users.email") {
                SqlError::Store(StoreError::Conflict(
                    "a user with this email already exists".into(),
                ))
            } else {
                SqlError::Diesel(err)
            }
        })?;
    Ok(row.into_user()?)
}

/// One more than a page, to tell whether another page follows.
pub(crate) fn split_page<T>(mut rows: Vec<T>, page: PageRequest) -> (Vec<T>, bool) {
    let limit = page.limit.get() as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

fn revoke(conn: &mut SqliteConnection, scope: Scope, id: ApiKeyId) -> SqlResult<()> {
    let mut target = api_keys::table
        .filter(api_keys::id.eq(id_text(id.as_uuid())))
        .filter(api_keys::revoked_at.is_null())
        .into_boxed();
    if let Some(owner) = scope.owner() {
        target = target.filter(api_keys::owner_id.eq(id_text(owner.as_uuid())));
    }
    let Some(found) = target
        .select(api_keys::id)
        .first::<String>(conn)
        .optional()?
    else {
        return Err(StoreError::NotFound("api key").into());
    };
    diesel::update(api_keys::table.find(found))
        .set(api_keys::revoked_at.eq(now().nullable()))
        .execute(conn)?;
    Ok(())
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.write(move |conn| insert_user(conn, &user)).await
    }

    /// Atomic across processes: the check and the insert share one `BEGIN IMMEDIATE`.
    async fn create_first_user(&self, user: NewUser) -> Result<Option<User>, StoreError> {
        self.write(move |conn| {
            let any: bool = diesel::select(diesel::dsl::exists(users::table.select(users::id)))
                .get_result(conn)?;
            if any {
                return Ok(None);
            }
            insert_user(conn, &user).map(Some)
        })
        .await
    }

    async fn list_users(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        self.read(move |conn| {
            let mut query = users::table.into_boxed();
            if let Some(after) = page.after {
                query = query.filter(users::id.lt(id_text(&after)));
            }
            let rows: Vec<UserRow> = query
                .order(users::id.desc())
                .limit(i64::from(page.limit.get()) + 1)
                .select(UserRow::as_select())
                .load(conn)?;
            let (rows, more) = split_page(rows, page);
            let items = rows
                .into_iter()
                .map(UserRow::into_user)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let next = if more {
                items.last().map(|u| *u.id.as_uuid())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let email = email.as_str().to_owned();
        self.read(move |conn| {
            let row: Option<UserRow> = users::table
                .filter(users::email.eq(email))
                .select(UserRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(UserRow::into_credentials).transpose()?)
        })
        .await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError> {
        self.write(move |conn| {
            let row: ApiKeyRow = diesel::insert_into(api_keys::table)
                .values((
                    api_keys::id.eq(id_text(key.id.as_uuid())),
                    api_keys::owner_id.eq(id_text(key.owner_id.as_uuid())),
                    api_keys::name.eq(key.name.as_str()),
                    api_keys::prefix.eq(&key.prefix),
                    api_keys::key_hash.eq(&key.hash.0[..]),
                ))
                .returning(ApiKeyRow::as_returning())
                .get_result(conn)
                .map_err(|err| match err {
                    DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                        SqlError::Store(StoreError::NotFound("user"))
                    }
                    other => SqlError::Store(from_diesel(other)),
                })?;
            Ok(row.into_key()?)
        })
        .await
    }

    async fn list_api_keys(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StoreError> {
        self.read(move |conn| {
            let mut query = api_keys::table
                .filter(api_keys::revoked_at.is_null())
                .into_boxed();
            if let Some(owner) = scope.owner() {
                query = query.filter(api_keys::owner_id.eq(id_text(owner.as_uuid())));
            }
            if let Some(after) = page.after {
                query = query.filter(api_keys::id.lt(id_text(&after)));
            }
            let rows: Vec<ApiKeyRow> = query
                .order(api_keys::id.desc())
                .limit(i64::from(page.limit.get()) + 1)
                .select(ApiKeyRow::as_select())
                .load(conn)?;
            let (rows, more) = split_page(rows, page);
            let items = rows
                .into_iter()
                .map(ApiKeyRow::into_key)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let next = if more {
                items.last().map(|k| *k.id.as_uuid())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    /// Takes effect at the next lookup; the in-process key cache is emptied by the caller's
    /// signal (SQLite has no cross-process notifications).
    async fn revoke_api_key(&self, scope: Scope, id: ApiKeyId) -> Result<(), StoreError> {
        self.write(move |conn| revoke(conn, scope, id)).await
    }

    async fn principal_for_key(&self, hash: &KeyHash) -> Result<Option<Principal>, StoreError> {
        let hash = hash.0;
        self.read(move |conn| {
            let row: Option<(String, String)> = api_keys::table
                .inner_join(users::table)
                .filter(api_keys::key_hash.eq(&hash[..]))
                .filter(api_keys::revoked_at.is_null())
                .select((users::id, users::role))
                .first(conn)
                .optional()?;
            let principal = row
                .map(|(id, role)| -> anyhow::Result<Principal> {
                    Ok(Principal {
                        user: UserId::from_uuid(uuid(&id)?),
                        role: role.parse::<Role>()?,
                    })
                })
                .transpose()?;
            Ok(principal)
        })
        .await
    }
}
