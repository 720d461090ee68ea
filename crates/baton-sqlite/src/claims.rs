//! Claiming tasks under a lease: which queued tasks a claim takes (oldest first, by SQLite's
//! clock), leasing one under a decided token, and reading claims back with what running them
//! needs (their workflow's name, input and output task, the parent's task waiting for a child
//! workflow, the tasks that need them).
//!
//! Exclusive because every claim runs in a `BEGIN IMMEDIATE` transaction: from its first
//! statement no other connection, in this process or another, can write until it commits.

use std::time::Duration;

use anyhow::Context;
use baton_domain::{Claim, Dependent, EventKind, LeaseToken, NewEvent, Task, TaskId, TaskStatus};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::error::SqlResult;
use crate::events;
use crate::models::{TaskRow, json, uuid};
use crate::prepared::Prepared;
use crate::time::shift;

#[derive(QueryableByName)]
struct Picked {
    #[diesel(sql_type = Text)]
    id: String,
}

diesel::define_sql_function! {
    /// SQL's `coalesce(a, b)` for a nullable time column and a time.
    fn coalesce(a: diesel::sql_types::Nullable<Text>, b: Text) -> Text;
}

/// Queued tasks whose time has come, oldest first, read in order from the partial index
/// `tasks_claim_idx`: a claim costs the tasks it takes, not the backlog. Without statistics
/// SQLite's planner would rather use `tasks_status_id_idx` and sort every queued task, so the
/// index is named (`INDEXED BY` fails loudly, rather than slowly, if it ever stops applying);
/// the status is written out so that the partial index matches.
pub(crate) const PICK_QUEUED: &str = "SELECT id FROM tasks INDEXED BY tasks_claim_idx
  WHERE status = 'queued' AND available_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  ORDER BY available_at, id
  LIMIT ?1";

/// Running tasks whose lease has expired, soonest expired first (from `tasks_lease_idx`).
pub(crate) const PICK_EXPIRED: &str = "SELECT id FROM tasks INDEXED BY tasks_lease_idx
  WHERE status = 'running' AND lease_expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  ORDER BY lease_expires_at, id
  LIMIT ?1";

/// The ids of up to `limit` queued tasks whose time has come, oldest first.
pub(crate) fn pick_queued(conn: &mut SqliteConnection, limit: usize) -> SqlResult<Vec<String>> {
    let picked: Vec<Picked> = Prepared::new(PICK_QUEUED)
        .big_int(i64::try_from(limit).unwrap_or(i64::MAX))
        .load(conn)?;
    Ok(picked.into_iter().map(|p| p.id).collect())
}

/// The ids of up to `limit` running tasks whose lease has expired, soonest expired first.
pub(crate) fn pick_expired(conn: &mut SqliteConnection, limit: u32) -> SqlResult<Vec<String>> {
    let picked: Vec<Picked> = Prepared::new(PICK_EXPIRED)
        .big_int(i64::from(limit))
        .load(conn)?;
    Ok(picked.into_iter().map(|p| p.id).collect())
}

/// The lease of one task. Binds task, the status it must have, token, the lease's length as a
/// modifier. Its first start (and queue time, for a task never queued) is kept.
const LEASE_SQL: &str = "
UPDATE tasks
   SET status = 'running',
       attempt = attempt + 1,
       lease_owner = ?3,
       lease_expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?4),
       available_at = coalesce(available_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
       started_at = coalesce(started_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       version = version + 1
 WHERE id = ?1 AND status = ?2";

/// Makes task `id` running under `token` with its next attempt and a lease of `lease`, if it
/// is `from`; whether it was.
pub(crate) fn lease(
    conn: &mut SqliteConnection,
    id: &str,
    from: TaskStatus,
    token: &LeaseToken,
    lease: Duration,
) -> SqlResult<bool> {
    let leased = Prepared::new(LEASE_SQL)
        .text(id)
        .text(from.as_str())
        .text(token.as_str())
        .text(shift(lease, true))
        .execute(conn)?;
    Ok(leased == 1)
}

/// Claims up to `tokens.len()` queued tasks, one token each, oldest first, appending a
/// `task.started` event for each (call in a write transaction).
pub(crate) fn claim_queued(
    conn: &mut SqliteConnection,
    tokens: &[LeaseToken],
    duration: Duration,
) -> SqlResult<Vec<Claim>> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let ids = pick_queued(conn, tokens.len())?;
    for (id, token) in ids.iter().zip(tokens) {
        lease(conn, id, TaskStatus::Queued, token, duration)?;
    }
    let claims = load(conn, &ids)?;
    let started: Vec<NewEvent> = claims.iter().map(started_event).collect();
    events::append(conn, &started)?;
    Ok(claims)
}

/// The `task.started` event of a claim, the worker being the token's (with the element's
/// `index` when the task is an element of a fan-out).
fn started_event(claim: &Claim) -> NewEvent {
    NewEvent::new(
        claim.task.workflow_id,
        EventKind::TaskStarted {
            task_id: claim.task.id,
            attempt: claim.task.attempt,
            worker: claim.token.worker().to_owned(),
        },
    )
    .of_element(claim.task.element_index)
}

/// The claims of the tasks of a JSON array of ids, in its order: each task (its type also as
/// `task_type`, its field's name) with its workflow's name, input, output task, parent task and
/// concurrency key, and its dependents as they are now, as a JSON array of `[id, position,
/// attempt, waiting_on, element_index]` by position (the ids in its `dependents`, each read by
/// primary key). One statement, prepared once, whatever the number of ids.
const LOAD_SQL: &str = "
SELECT tasks.*, tasks.type AS task_type,
       w.name AS workflow_name, w.input AS workflow_input, w.output_task AS output_task,
       w.parent_task_id AS workflow_parent, w.concurrency_key AS concurrency_key,
       (SELECT json_group_array(
                   json_array(d.id, d.position, d.attempt, d.waiting_on, d.element_index)
                   ORDER BY d.position)
          FROM json_each(tasks.dependents) AS j JOIN tasks AS d ON d.id = j.value)
           AS dependents_now
  FROM json_each(?1) AS i
  JOIN tasks ON tasks.id = i.value
  JOIN workflows AS w ON w.id = tasks.workflow_id
 ORDER BY i.key";

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(embed)]
    task: TaskRow,
    #[diesel(sql_type = Text)]
    workflow_name: String,
    #[diesel(sql_type = Text)]
    workflow_input: String,
    #[diesel(sql_type = Nullable<Text>)]
    output_task: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    workflow_parent: Option<String>,
    #[diesel(sql_type = Text)]
    dependents_now: String,
    #[diesel(sql_type = Nullable<Text>)]
    concurrency_key: Option<String>,
}

/// The claims of tasks `ids` (each under its current lease token), in that order, in one
/// statement.
pub(crate) fn load(conn: &mut SqliteConnection, ids: &[String]) -> SqlResult<Vec<Claim>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ClaimRow> = Prepared::new(LOAD_SQL)
        .text(serde_json::to_string(ids).context("the ids of the tasks to load")?)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(into_claim)
        .collect::<anyhow::Result<_>>()?)
}

fn into_claim(row: ClaimRow) -> anyhow::Result<Claim> {
    let ClaimRow {
        task,
        workflow_name,
        workflow_input,
        output_task,
        workflow_parent: parent_task,
        dependents_now: dependents,
        concurrency_key: key,
    } = row;
    let token = task
        .lease_owner
        .clone()
        .context("a claimed task without a lease")?;
    let dependents: Vec<(String, i32, i32, i32, Option<i32>)> =
        serde_json::from_str(&dependents).context("a claimed task's dependents")?;
    let dependents = dependents
        .into_iter()
        .map(|(id, position, attempt, waiting_on, element_index)| {
            Ok(Dependent {
                id: TaskId::from_uuid(uuid(&id)?),
                position,
                attempt,
                waiting_on,
                element_index,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Claim {
        task: Task::try_from(task)?,
        token: LeaseToken::from_stored(token),
        workflow_name,
        workflow_input: json(&workflow_input)?,
        dependents,
        output_task: output_task
            .as_deref()
            .map(|id| uuid(id).map(TaskId::from_uuid))
            .transpose()?,
        parent_task: parent_task
            .as_deref()
            .map(|id| uuid(id).map(TaskId::from_uuid))
            .transpose()?,
        concurrency_key: key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::{assert_reads, migrated, plan};

    /// The claim and the reaper read their partial indexes, in order, without sorting.
    #[test]
    fn picks_use_their_partial_indexes() {
        let (mut conn, _dir) = migrated();
        assert_reads(&plan(&mut conn, PICK_QUEUED), "tasks_claim_idx");
        assert_reads(&plan(&mut conn, PICK_EXPIRED), "tasks_lease_idx");
    }

    /// A claim reads its dependents by primary key.
    #[test]
    fn claims_and_their_dependents_are_read_by_primary_key() {
        let (mut conn, _dir) = migrated();
        let plan = plan(&mut conn, LOAD_SQL);
        assert!(
            plan.contains("SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 (id=?)"),
            "{plan}"
        );
        assert!(
            plan.contains("SEARCH d USING INDEX sqlite_autoindex_tasks_1 (id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN tasks"), "{plan}");
        assert!(!plan.contains("SCAN w"), "{plan}");
    }
}
