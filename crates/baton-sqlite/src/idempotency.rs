//! `Idempotency-Key` records: the `IdempotencyStore` port.
//!
//! A key is claimed by inserting its row; the row stays "in flight" (`status IS NULL`) until the
//! response is recorded, or is deleted when the request failed. `begin` runs in one
//! `BEGIN IMMEDIATE` transaction (forget the key if stale, insert it if free, else read it),
//! so of concurrent callers exactly one starts, in this process or another.

use async_trait::async_trait;
use baton_domain::ports::{IdempotencyStore, StoreError};
use baton_domain::{Begun, IDEMPOTENCY_TTL, IN_FLIGHT_TIMEOUT, IdempotencyKey, StoredResponse};
use diesel::SqliteConnection;
use diesel::prelude::*;
use serde_json::Value;

use crate::error::SqlResult;
use crate::models::id_text;
use crate::schema::idempotency_keys as keys;
use crate::store::SqliteStore;
use crate::time::{ago, now};

#[derive(Queryable, Selectable)]
#[diesel(table_name = keys, check_for_backend(diesel::sqlite::Sqlite))]
struct KeyRow {
    fingerprint: Vec<u8>,
    status: Option<i16>,
    headers: String,
    body: Option<Vec<u8>>,
}

fn this(key: &IdempotencyKey) -> (String, String) {
    (id_text(key.principal().as_uuid()), key.key().to_owned())
}

fn headers_to_json(headers: &[(String, String)]) -> String {
    Value::Array(
        headers
            .iter()
            .map(|(k, v)| Value::Array(vec![Value::String(k.clone()), Value::String(v.clone())]))
            .collect(),
    )
    .to_string()
}

fn headers_from_json(text: &str) -> Vec<(String, String)> {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    value
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| {
                    let name = pair.get(0)?.as_str()?;
                    let value = pair.get(1)?.as_str()?;
                    Some((name.to_owned(), value.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn begin(
    conn: &mut SqliteConnection,
    key: &IdempotencyKey,
    fingerprint: &[u8],
) -> SqlResult<Begun> {
    let (principal, name) = this(key);
    let this_key = keys::table
        .filter(keys::principal.eq(&principal))
        .filter(keys::key.eq(&name));
    // Expired, or abandoned in flight by a process that died.
    diesel::delete(
        this_key.filter(
            keys::created_at.lt(ago(IDEMPOTENCY_TTL)).or(keys::status
                .is_null()
                .and(keys::created_at.lt(ago(IN_FLIGHT_TIMEOUT)))),
        ),
    )
    .execute(conn)?;
    let inserted = diesel::insert_into(keys::table)
        .values((
            keys::principal.eq(&principal),
            keys::key.eq(&name),
            keys::fingerprint.eq(fingerprint),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted == 1 {
        return Ok(Begun::Started);
    }
    let row: KeyRow = this_key.select(KeyRow::as_select()).first(conn)?;
    if row.fingerprint != fingerprint {
        return Ok(Begun::Mismatch);
    }
    Ok(match row.status {
        None => Begun::InFlight,
        Some(status) => Begun::Completed(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            headers: headers_from_json(&row.headers),
            body: row.body.unwrap_or_default(),
        }),
    })
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn begin(
        &self,
        key: &IdempotencyKey,
        fingerprint: &[u8; 32],
    ) -> Result<Begun, StoreError> {
        let (key, fingerprint) = (key.clone(), *fingerprint);
        self.write(move |conn| begin(conn, &key, &fingerprint))
            .await
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let (principal, name) = this(key);
        let status = i16::try_from(response.status).unwrap_or(500);
        let headers = headers_to_json(&response.headers);
        let body = response.body.clone();
        self.write(move |conn| {
            diesel::update(
                keys::table
                    .find((principal, name))
                    .filter(keys::status.is_null()),
            )
            .set((
                keys::status.eq(status),
                keys::headers.eq(headers),
                keys::body.eq(body),
                keys::completed_at.eq(now().nullable()),
            ))
            .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        let (principal, name) = this(key);
        self.write(move |conn| {
            diesel::delete(
                keys::table
                    .find((principal, name))
                    .filter(keys::status.is_null()),
            )
            .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.write(|conn| {
            let deleted =
                diesel::delete(keys::table.filter(keys::created_at.lt(ago(IDEMPOTENCY_TTL))))
                    .execute(conn)?;
            Ok(deleted as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_json() {
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("location".to_owned(), "/api/workflows/\"1\"".to_owned()),
        ];
        assert_eq!(headers_from_json(&headers_to_json(&headers)), headers);
        assert!(headers_from_json("null").is_empty());
    }
}
