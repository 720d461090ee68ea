//! Concurrency keys: how a key stands, applying decided admissions, the keys with queued
//! workflows. An admission runs in the store's write transaction (`BEGIN IMMEDIATE`): SQLite's
//! one writer is the key's lock, so the running count it reads cannot change before it commits.

use baton_domain::ports::StoreError;
use baton_domain::{Admission, ConcurrencyKey, KeyState, Queued, UserId, WorkflowId};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::error::SqlResult;
use crate::models::{id_text, uuid};
use crate::schema::workflows;

// Without statistics SQLite's planner would rather read `workflows_status_id_idx` and sort;
// the indexes written for these reads are named (`INDEXED BY` fails loudly, rather than
// slowly, if one ever stops applying), the status written out so that the partial index
// matches. Bound: the owner, the key, and a limit.

/// How many of a key run, from `workflows_running_key_idx`.
pub(crate) const COUNT_RUNNING: &str = "SELECT count(*) AS n FROM workflows
  INDEXED BY workflows_running_key_idx
  WHERE owner_id = ?1 AND concurrency_key = ?2 AND status = 'running'
    AND concurrency_key IS NOT NULL";

/// A key's queued workflows in admission order, from `workflows_queued_key_idx`.
pub(crate) const PICK_QUEUED: &str = "SELECT id, concurrency_limit FROM workflows
  INDEXED BY workflows_queued_key_idx
  WHERE owner_id = ?1 AND concurrency_key = ?2 AND status = 'queued'
  ORDER BY queued_at, id
  LIMIT ?3";

/// The (owner, key) pairs with queued workflows, from `workflows_queued_key_idx`.
pub(crate) const QUEUED_KEYS: &str = "SELECT DISTINCT owner_id, concurrency_key FROM workflows
  INDEXED BY workflows_queued_key_idx
  WHERE status = 'queued'
  LIMIT ?1";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Picked {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    concurrency_limit: Option<i32>,
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = Text)]
    owner_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    concurrency_key: Option<String>,
}

fn running(conn: &mut SqliteConnection, owner: UserId, key: &ConcurrencyKey) -> SqlResult<u32> {
    let count: Count = diesel::sql_query(COUNT_RUNNING)
        .bind::<Text, _>(id_text(owner.as_uuid()))
        .bind::<Text, _>(key.as_str())
        .get_result(conn)?;
    Ok(u32::try_from(count.n).unwrap_or(u32::MAX))
}

fn queued(
    conn: &mut SqliteConnection,
    owner: UserId,
    key: &ConcurrencyKey,
    max: u32,
) -> SqlResult<Vec<Picked>> {
    Ok(diesel::sql_query(PICK_QUEUED)
        .bind::<Text, _>(id_text(owner.as_uuid()))
        .bind::<Text, _>(key.as_str())
        .bind::<BigInt, _>(i64::from(max))
        .load(conn)?)
}

/// Call in a read transaction (one snapshot).
pub(crate) fn key_state(
    conn: &mut SqliteConnection,
    owner: UserId,
    key: &ConcurrencyKey,
    max: u32,
) -> SqlResult<KeyState> {
    let running = running(conn, owner, key)?;
    let queued = queued(conn, owner, key, max)?
        .into_iter()
        .map(|row| {
            Ok(Queued {
                id: WorkflowId::from_uuid(uuid(&row.id)?),
                limit: row
                    .concurrency_limit
                    .and_then(|l| u32::try_from(l).ok())
                    .unwrap_or(1),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(KeyState { running, queued })
}

/// Call in a write transaction.
pub(crate) fn admit(conn: &mut SqliteConnection, admission: &Admission) -> SqlResult<()> {
    let (owner, key) = (admission.owner, &admission.key);
    if running(conn, owner, key)? > admission.running {
        return Err(StoreError::Stale("concurrency key").into());
    }
    if admission.none_queued && !queued(conn, owner, key, 1)?.is_empty() {
        return Err(StoreError::Stale("concurrency key").into());
    }
    for start in &admission.starts {
        crate::lifecycle::apply(conn, start)?;
    }
    let started: Vec<String> = admission
        .workflows()
        .iter()
        .map(|id| id_text(id.as_uuid()))
        .collect();
    diesel::update(workflows::table.filter(workflows::id.eq_any(started)))
        .set(workflows::concurrency_key.eq(key.as_str()))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn queued_keys(
    conn: &mut SqliteConnection,
    limit: u32,
) -> SqlResult<Vec<(UserId, ConcurrencyKey)>> {
    let rows: Vec<Pair> = diesel::sql_query(QUEUED_KEYS)
        .bind::<BigInt, _>(i64::from(limit))
        .load(conn)?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(key) = row
            .concurrency_key
            .and_then(|k| ConcurrencyKey::new(k).ok())
        {
            keys.push((UserId::from_uuid(uuid(&row.owner_id)?), key));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use baton_domain::{
        Concurrency, KeyedStart, NewWorkflow, TaskDraft, TaskStatus, WorkflowStatus,
    };
    use serde_json::json;

    use super::*;
    use crate::plans::{assert_reads, migrated, plan};
    use crate::pool::migrate;
    use crate::schema::{events, tasks};

    fn keyed(conn: &mut SqliteConnection, running: u32) -> (String, KeyedStart) {
        let draft = TaskDraft {
            task_type: "transform".into(),
            input: Some(json!({"jq": "."})),
            ..TaskDraft::default()
        };
        let new = NewWorkflow::new(UserId::LOCAL_ADMIN, "w".into(), None, vec![draft])
            .unwrap()
            .with_concurrency(Some(Concurrency {
                key: "k".into(),
                limit: 1,
            }));
        conn.immediate_transaction(|conn| crate::workflows::create(conn, &new, None))
            .unwrap();
        let workflow = conn
            .transaction(|conn| {
                crate::workflows::get(conn, baton_domain::ports::Scope::All, new.id())
            })
            .unwrap();
        let state = KeyState {
            running,
            queued: Vec::new(),
        };
        let key = ConcurrencyKey::new("k".into()).unwrap();
        let decided = workflow
            .admit_or_queue(workflow.start().unwrap(), key, &state)
            .unwrap();
        (id_text(new.id().as_uuid()), decided)
    }

    fn counts(conn: &mut SqliteConnection) -> (i64, i64, i64) {
        (
            workflows::table.count().get_result(conn).unwrap(),
            tasks::table.count().get_result(conn).unwrap(),
            events::table.count().get_result(conn).unwrap(),
        )
    }

    /// Reverted, the migration cancels the queued workflows (and their waiting tasks) and keeps
    /// every row of the rebuilt table and those referring to it; migrated again, nothing is lost.
    #[test]
    fn the_migration_keeps_the_rows_both_ways() {
        let (mut conn, _dir) = migrated();
        let (running, KeyedStart::Run(run)) = keyed(&mut conn, 0) else {
            panic!("a free slot")
        };
        conn.immediate_transaction(|conn| admit(conn, &run))
            .unwrap();
        let (queued, KeyedStart::Queue(parked)) = keyed(&mut conn, 1) else {
            panic!("no free slot")
        };
        conn.immediate_transaction(|conn| crate::lifecycle::apply(conn, &parked))
            .unwrap();
        let before = counts(&mut conn);

        // This migration and the later ones, newest first.
        let reverted = crate::pool::revert_after(&mut conn, "20261207000001");
        assert_eq!(counts(&mut conn), before, "no row lost to the rebuild");
        let statuses: Vec<(String, String)> = workflows::table
            .select((workflows::id, workflows::status))
            .order(workflows::id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            statuses,
            [
                (running.clone(), WorkflowStatus::Running.as_str().to_owned()),
                (
                    queued.clone(),
                    WorkflowStatus::Cancelled.as_str().to_owned()
                ),
            ]
        );
        let task: String = tasks::table
            .filter(tasks::workflow_id.eq(&queued))
            .select(tasks::status)
            .first(&mut conn)
            .unwrap();
        assert_eq!(task, TaskStatus::Cancelled.as_str());

        assert_eq!(
            migrate(&mut conn).unwrap(),
            reverted,
            "concurrency keys (and the later ones) again"
        );
        assert_eq!(counts(&mut conn), before, "nor to this one");
        let deleted = diesel::delete(workflows::table.find(&running))
            .execute(&mut conn)
            .unwrap();
        assert_eq!(deleted, 1);
        let left: i64 = tasks::table
            .filter(tasks::workflow_id.eq(&running))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(left, 0, "the cascade to tasks still holds");
    }

    /// The sweep reads the keys with queued workflows from their partial index, admission a
    /// key's queued workflows in order and its running count from theirs, sorting nothing.
    #[test]
    fn keys_are_read_through_their_indexes() {
        let (mut conn, _dir) = migrated();
        assert!(plan(&mut conn, QUEUED_KEYS).contains("workflows_queued_key_idx"));
        assert_reads(&plan(&mut conn, PICK_QUEUED), "workflows_queued_key_idx");
        assert_reads(&plan(&mut conn, COUNT_RUNNING), "workflows_running_key_idx");
    }
}
