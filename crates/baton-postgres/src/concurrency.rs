//! Concurrency keys: how a key stands, applying decided admissions, the keys with queued
//! workflows.
//!
//! An admission holds `pg_advisory_xact_lock(KEY_SPACE, hash)` of its (owner, key) pair, the
//! hash computed here (FNV-1a, fixed forever so every instance and version agrees) and bound.
//! An advisory lock rather than a row of a `concurrency_keys` table: there is no row to create
//! on a key's first use (which would need its own race-free upsert) or to clean up, it is
//! released at commit or rollback, and a collision of two keys' hashes only makes them wait
//! for each other. Every transition into `running` of a keyed workflow goes through an
//! admission (a start with a free slot is one), so under the lock the count of running
//! workflows, read after the lock was granted (READ COMMITTED: a statement sees what committed
//! before it began), cannot grow until the commit. Transitions out of `running` do not take it:
//! they only free slots, which the fence `running <= decided` tolerates.
//!
//! The lock is taken first, before any workflow row: no transaction waits for it while holding
//! a row, so it adds no cycle to the lock order of the task-graph and child-workflow
//! migrations.

use baton_domain::ports::StoreError;
use baton_domain::{
    Admission, ConcurrencyKey, KeyState, Queued, UserId, WorkflowId, WorkflowStatus,
};
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::PgResult;
use crate::schema::workflows;

/// The first key of Baton's two-key advisory locks ("BTNC"): apart from the one-key locks
/// (migrations take one), which live in another space.
const KEY_SPACE: i32 = 0x4254_4e43;

/// The second key: a hash of the owner and the key.
fn key_hash(owner: UserId, key: &ConcurrencyKey) -> i32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in owner
        .as_uuid()
        .as_bytes()
        .iter()
        .chain(key.as_str().as_bytes())
    {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Fold to 32 bits; the bits are reinterpreted, not truncated to a range.
    i32::from_ne_bytes(((hash >> 32) as u32 ^ hash as u32).to_ne_bytes())
}

fn of_key(
    owner: UserId,
    key: &ConcurrencyKey,
    status: WorkflowStatus,
) -> workflows::BoxedQuery<'static, diesel::pg::Pg> {
    workflows::table
        .filter(workflows::owner_id.eq(*owner.as_uuid()))
        .filter(workflows::concurrency_key.eq(key.as_str().to_owned()))
        .filter(workflows::status.eq(status.as_str()))
        .into_boxed()
}

async fn running(
    conn: &mut AsyncPgConnection,
    owner: UserId,
    key: &ConcurrencyKey,
) -> PgResult<u32> {
    let count: i64 = of_key(owner, key, WorkflowStatus::Running)
        .count()
        .get_result(conn)
        .await?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

pub(crate) async fn key_state(
    conn: &mut AsyncPgConnection,
    owner: UserId,
    key: &ConcurrencyKey,
    max: u32,
) -> Result<KeyState, StoreError> {
    let running = running(conn, owner, key).await?;
    let rows: Vec<(Uuid, Option<i32>)> = of_key(owner, key, WorkflowStatus::Queued)
        .order((workflows::queued_at.asc(), workflows::id.asc()))
        .limit(i64::from(max))
        .select((workflows::id, workflows::concurrency_limit))
        .load(conn)
        .await
        .map_err(crate::error::from_diesel)?;
    let queued = rows
        .into_iter()
        .map(|(id, limit)| Queued {
            id: WorkflowId::from_uuid(id),
            limit: limit.and_then(|l| u32::try_from(l).ok()).unwrap_or(1),
        })
        .collect();
    Ok(KeyState { running, queued })
}

async fn admit_in(conn: &mut AsyncPgConnection, admission: &Admission) -> PgResult<()> {
    let (owner, key) = (admission.owner, &admission.key);
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind::<Integer, _>(KEY_SPACE)
        .bind::<Integer, _>(key_hash(owner, key))
        .execute(conn)
        .await?;
    if running(conn, owner, key).await? > admission.running {
        return Err(StoreError::Stale("concurrency key").into());
    }
    if admission.none_queued {
        let queued: i64 = of_key(owner, key, WorkflowStatus::Queued)
            .count()
            .get_result(conn)
            .await?;
        if queued > 0 {
            return Err(StoreError::Stale("concurrency key").into());
        }
    }
    for start in &admission.starts {
        crate::lifecycle::apply_in(conn, start).await?;
    }
    let started: Vec<Uuid> = admission
        .workflows()
        .iter()
        .map(|id| *id.as_uuid())
        .collect();
    diesel::update(workflows::table.filter(workflows::id.eq_any(started)))
        .set(workflows::concurrency_key.eq(key.as_str()))
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn admit(
    conn: &mut AsyncPgConnection,
    admission: &Admission,
) -> Result<(), StoreError> {
    let result: PgResult<()> = conn
        .transaction(async |conn| admit_in(conn, admission).await)
        .await;
    Ok(result?)
}

pub(crate) async fn queued_keys(
    conn: &mut AsyncPgConnection,
    limit: u32,
) -> Result<Vec<(UserId, ConcurrencyKey)>, StoreError> {
    let rows: Vec<(Uuid, Option<String>)> = workflows::table
        .filter(workflows::status.eq(WorkflowStatus::Queued.as_str()))
        .select((workflows::owner_id, workflows::concurrency_key))
        .distinct()
        .limit(i64::from(limit))
        .load(conn)
        .await
        .map_err(crate::error::from_diesel)?;
    Ok(rows
        .into_iter()
        .filter_map(|(owner, key)| {
            let key = ConcurrencyKey::new(key?).ok()?;
            Some((UserId::from_uuid(owner), key))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_is_stable_and_per_owner() {
        let key = ConcurrencyKey::new("acme".into()).unwrap();
        let other = UserId::from_uuid(Uuid::from_u128(1));
        assert_eq!(
            key_hash(UserId::LOCAL_ADMIN, &key),
            key_hash(UserId::LOCAL_ADMIN, &key)
        );
        assert_ne!(key_hash(UserId::LOCAL_ADMIN, &key), key_hash(other, &key));
        // Fixed: instances of different versions must agree.
        assert_eq!(key_hash(UserId::LOCAL_ADMIN, &key), -1_466_291_812);
    }
}
