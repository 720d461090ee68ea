//! `Idempotency-Key` records: the `IdempotencyStore` port.
//!
//! A key is claimed by inserting its row (the primary key makes exactly one concurrent insert
//! win); the row stays "in flight" (`status IS NULL`) until the response is recorded, or is
//! deleted when the request failed. Expired and abandoned rows are deleted lazily.

use async_trait::async_trait;
use baton_domain::ports::{IdempotencyStore, StoreError};
use baton_domain::{Begun, IDEMPOTENCY_TTL, IN_FLIGHT_TIMEOUT, IdempotencyKey, StoredResponse};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::auth_schema::idempotency_keys as keys;
use crate::error::from_diesel;
use crate::store::PgStore;

#[derive(Queryable, Selectable)]
#[diesel(table_name = keys, check_for_backend(diesel::pg::Pg))]
struct KeyRow {
    fingerprint: Vec<u8>,
    status: Option<i16>,
    headers: Value,
    body: Option<Vec<u8>>,
}

#[derive(Insertable)]
#[diesel(table_name = keys)]
struct NewKeyRow<'a> {
    principal: Uuid,
    key: &'a str,
    fingerprint: &'a [u8],
}

fn this(key: &IdempotencyKey) -> (Uuid, String) {
    (*key.principal().as_uuid(), key.key().to_owned())
}

fn headers_to_json(headers: &[(String, String)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(k, v)| Value::Array(vec![Value::String(k.clone()), Value::String(v.clone())]))
            .collect(),
    )
}

fn headers_from_json(value: &Value) -> Vec<(String, String)> {
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

/// Deletes this key's row when it has expired or was abandoned in flight.
async fn forget_stale(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
) -> Result<(), StoreError> {
    diesel::sql_query(
        "DELETE FROM idempotency_keys
          WHERE principal = $1 AND key = $2
            AND (created_at < now() - make_interval(secs => $3)
                 OR (status IS NULL AND created_at < now() - make_interval(secs => $4)))",
    )
    .bind::<diesel::sql_types::Uuid, _>(*key.principal().as_uuid())
    .bind::<Text, _>(key.key())
    .bind::<Double, _>(IDEMPOTENCY_TTL.as_secs_f64())
    .bind::<Double, _>(IN_FLIGHT_TIMEOUT.as_secs_f64())
    .execute(conn)
    .await
    .map_err(from_diesel)?;
    Ok(())
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn begin(
        &self,
        key: &IdempotencyKey,
        fingerprint: &[u8; 32],
    ) -> Result<Begun, StoreError> {
        let mut conn = self.conn().await?;
        forget_stale(&mut conn, key).await?;
        let (principal, name) = this(key);
        // The row may vanish between the insert and the read (released by a failed request):
        // then the key is free again.
        for _ in 0..3 {
            let inserted = diesel::insert_into(keys::table)
                .values(NewKeyRow {
                    principal,
                    key: &name,
                    fingerprint,
                })
                .on_conflict_do_nothing()
                .execute(&mut *conn)
                .await
                .map_err(from_diesel)?;
            if inserted == 1 {
                return Ok(Begun::Started);
            }
            let row: Option<KeyRow> = keys::table
                .find((principal, &name))
                .select(KeyRow::as_select())
                .first(&mut *conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            let Some(row) = row else { continue };
            if row.fingerprint != fingerprint {
                return Ok(Begun::Mismatch);
            }
            return Ok(match row.status {
                None => Begun::InFlight,
                Some(status) => Begun::Completed(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    headers: headers_from_json(&row.headers),
                    body: row.body.unwrap_or_default(),
                }),
            });
        }
        Ok(Begun::InFlight)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let (principal, name) = this(key);
        diesel::update(
            keys::table
                .find((principal, &name))
                .filter(keys::status.is_null()),
        )
        .set((
            keys::status.eq(i16::try_from(response.status).unwrap_or(500)),
            keys::headers.eq(headers_to_json(&response.headers)),
            keys::body.eq(&response.body),
            keys::completed_at.eq(now),
        ))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        let (principal, name) = this(key);
        diesel::delete(
            keys::table
                .find((principal, &name))
                .filter(keys::status.is_null()),
        )
        .execute(&mut *self.conn().await?)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let deleted = diesel::sql_query(
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
        )
        .bind::<Double, _>(IDEMPOTENCY_TTL.as_secs_f64())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(from_diesel)?;
        Ok(deleted as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_json() {
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("location".to_owned(), "/api/workflows/1".to_owned()),
        ];
        assert_eq!(headers_from_json(&headers_to_json(&headers)), headers);
        assert!(headers_from_json(&Value::Null).is_empty());
    }
}
