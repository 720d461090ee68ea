//! Claiming tasks under a lease: which queued tasks a claim takes (oldest first, by SQLite's
//! clock), leasing one under a decided token, and reading claims back with what running them
//! needs (their workflow's name, input and output task, the parent's task waiting for a child
//! workflow, the tasks that need them).
//!
//! Exclusive because every claim runs in a `BEGIN IMMEDIATE` transaction: from its first
//! statement no other connection, in this process or another, can write until it commits.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use baton_domain::{Claim, Dependent, EventKind, LeaseToken, NewEvent, Task, TaskId, TaskStatus};
use diesel::SqliteConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::error::SqlResult;
use crate::events;
use crate::models::{TaskRow, json, uuid};
use crate::schema::{tasks, workflows};
use crate::time::{later, now};

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
  LIMIT ?";

/// Running tasks whose lease has expired, soonest expired first (from `tasks_lease_idx`).
pub(crate) const PICK_EXPIRED: &str = "SELECT id FROM tasks INDEXED BY tasks_lease_idx
  WHERE status = 'running' AND lease_expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  ORDER BY lease_expires_at, id
  LIMIT ?";

/// The ids of up to `limit` queued tasks whose time has come, oldest first.
pub(crate) fn pick_queued(conn: &mut SqliteConnection, limit: usize) -> SqlResult<Vec<String>> {
    let picked: Vec<Picked> = diesel::sql_query(PICK_QUEUED)
        .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
        .load(conn)?;
    Ok(picked.into_iter().map(|p| p.id).collect())
}

/// The ids of up to `limit` running tasks whose lease has expired, soonest expired first.
pub(crate) fn pick_expired(conn: &mut SqliteConnection, limit: u32) -> SqlResult<Vec<String>> {
    let picked: Vec<Picked> = diesel::sql_query(PICK_EXPIRED)
        .bind::<BigInt, _>(i64::from(limit))
        .load(conn)?;
    Ok(picked.into_iter().map(|p| p.id).collect())
}

/// Makes task `id` running under `token` with its next attempt and a lease of `lease`, if it
/// is `from`; whether it was.
pub(crate) fn lease(
    conn: &mut SqliteConnection,
    id: &str,
    from: TaskStatus,
    token: &LeaseToken,
    lease: Duration,
) -> SqlResult<bool> {
    let leased = diesel::update(
        tasks::table
            .find(id)
            .filter(tasks::status.eq(from.as_str())),
    )
    .set((
        tasks::status.eq(TaskStatus::Running.as_str()),
        tasks::attempt.eq(tasks::attempt + 1),
        tasks::lease_owner.eq(token.as_str()),
        tasks::lease_expires_at.eq(later(lease).nullable()),
        // A dependent claimed straight from pending becomes available now.
        tasks::available_at.eq(coalesce(tasks::available_at, now()).nullable()),
        tasks::started_at.eq(coalesce(tasks::started_at, now()).nullable()),
        tasks::updated_at.eq(now()),
        tasks::version.eq(tasks::version + 1),
    ))
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

type ClaimRow = (
    TaskRow,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

/// A claimed task's dependents as they are now, as a JSON array of `[id, position, attempt,
/// waiting_on, element_index]` by position: the ids in its `dependents`, each read by primary key. Correlated
/// on the claimed task (the outer `tasks`; the subquery's own rows are `d`); a constant text,
/// nothing bound.
const DEPENDENTS: &str = "(SELECT json_group_array(\
json_array(d.id, d.position, d.attempt, d.waiting_on, d.element_index) ORDER BY d.position) \
FROM json_each(tasks.dependents) AS j JOIN tasks AS d ON d.id = j.value)";

/// The claims of tasks `ids` (each under its current lease token), in that order, in one
/// statement: each task with its workflow's name, input and output task, and the tasks that
/// need it.
pub(crate) fn load(conn: &mut SqliteConnection, ids: &[String]) -> SqlResult<Vec<Claim>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ClaimRow> = tasks::table
        .inner_join(workflows::table)
        .filter(tasks::id.eq_any(ids))
        .select((
            TaskRow::as_select(),
            workflows::name,
            workflows::input,
            workflows::output_task,
            workflows::parent_task_id,
            sql::<Text>(DEPENDENTS),
            workflows::concurrency_key,
        ))
        .load(conn)?;
    let mut by_id: HashMap<String, Claim> = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = row.0.id.clone();
        by_id.insert(id, into_claim(row)?);
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

fn into_claim(row: ClaimRow) -> anyhow::Result<Claim> {
    let (task, workflow_name, workflow_input, output_task, parent_task, dependents, key) = row;
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
    fn dependents_are_read_by_primary_key() {
        let (mut conn, _dir) = migrated();
        let query = tasks::table
            .filter(tasks::id.eq("x"))
            .select(sql::<Text>(DEPENDENTS));
        let plan = crate::plans::plan_of(&mut conn, &query);
        assert!(
            plan.contains("SEARCH d USING INDEX sqlite_autoindex_tasks_1 (id=?)"),
            "{plan}"
        );
    }
}
