//! Budgets of llm calls: reservations decided in the write transaction (SQLite's one writer is
//! the workflow's lock), the pause a refused call sets, and resuming (see
//! `baton_domain::Budget`). Call each in a write transaction.

use baton_domain::{
    Budget, BudgetAsk, BudgetDecision, EventKind, NewEvent, Spend, TaskId, TaskStatus, TaskType,
    WorkflowId, WorkflowStatus,
};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use crate::error::SqlResult;
use crate::events;
use crate::models::{id_text, json_opt};
use crate::schema::{llm_reservations, tasks, workflows};
use crate::time::now;

/// What a workflow's calls used (its ledger) and what the other tasks' calls in flight
/// reserved.
const SPENT_AND_RESERVED: &str = "\
SELECT (SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)
          FROM llm_calls WHERE workflow_id = ?1) AS spent_tokens,
       (SELECT coalesce(total(cost_usd), 0.0)
          FROM llm_calls WHERE workflow_id = ?1) AS spent_usd,
       (SELECT coalesce(sum(tokens), 0)
          FROM llm_reservations WHERE workflow_id = ?1 AND task_id <> ?2) AS reserved_tokens,
       (SELECT coalesce(total(cost_usd), 0.0)
          FROM llm_reservations WHERE workflow_id = ?1 AND task_id <> ?2) AS reserved_usd";

#[derive(QueryableByName)]
struct Sums {
    #[diesel(sql_type = BigInt)]
    spent_tokens: i64,
    #[diesel(sql_type = Double)]
    spent_usd: f64,
    #[diesel(sql_type = BigInt)]
    reserved_tokens: i64,
    #[diesel(sql_type = Double)]
    reserved_usd: f64,
}

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The budget of a workflow and its pause, when it has a budget.
fn budget_of(
    conn: &mut SqliteConnection,
    workflow: &str,
) -> SqlResult<Option<(Budget, Option<String>)>> {
    let row: Option<(Option<String>, Option<String>)> = workflows::table
        .find(workflow)
        .select((workflows::budget, workflows::paused))
        .first(conn)
        .optional()?;
    let Some((Some(budget), paused)) = row else {
        return Ok(None);
    };
    let budget = json_opt(Some(&budget))?.and_then(|b| serde_json::from_value::<Budget>(b).ok());
    Ok(budget.map(|b| (b, paused)))
}

/// Whether the workflow has a budget (a read, before taking the writer).
pub(crate) fn has_budget(conn: &mut SqliteConnection, workflow: WorkflowId) -> SqlResult<bool> {
    Ok(budget_of(conn, &id_text(workflow.as_uuid()))?.is_some())
}

pub(crate) fn reserve(
    conn: &mut SqliteConnection,
    workflow: WorkflowId,
    task: TaskId,
    ask: BudgetAsk,
) -> SqlResult<BudgetDecision> {
    let workflow = id_text(workflow.as_uuid());
    let task = id_text(task.as_uuid());
    let Some((budget, paused)) = budget_of(conn, &workflow)? else {
        return Ok(BudgetDecision::Unlimited);
    };
    let sums: Sums = diesel::sql_query(SPENT_AND_RESERVED)
        .bind::<Text, _>(&workflow)
        .bind::<Text, _>(&task)
        .get_result(conn)?;
    let decided = budget.decide(
        Spend::from_sums(sums.spent_tokens, sums.spent_usd),
        Spend::from_sums(sums.reserved_tokens, sums.reserved_usd),
        ask,
        paused.is_some(),
    );
    match &decided {
        BudgetDecision::Fits => {
            let tokens = big(ask.tokens.unwrap_or(0));
            let cost = ask.cost_usd.unwrap_or(0.0);
            diesel::insert_into(llm_reservations::table)
                .values((
                    llm_reservations::task_id.eq(&task),
                    llm_reservations::workflow_id.eq(&workflow),
                    llm_reservations::tokens.eq(tokens),
                    llm_reservations::cost_usd.eq(cost),
                ))
                .on_conflict(llm_reservations::task_id)
                .do_update()
                .set((
                    llm_reservations::tokens.eq(tokens),
                    llm_reservations::cost_usd.eq(cost),
                    llm_reservations::created_at.eq(now()),
                ))
                .execute(conn)?;
        }
        BudgetDecision::Exceeded(detail) => {
            diesel::delete(llm_reservations::table.find(&task)).execute(conn)?;
            if paused.is_none() {
                diesel::update(workflows::table.find(&workflow))
                    .set(workflows::paused.eq(detail.to_string()))
                    .execute(conn)?;
            }
        }
        BudgetDecision::Unlimited | BudgetDecision::Unknowable(_) => {}
    }
    Ok(decided)
}

/// Makes the tasks of `workflow` its budget parked (`llm` tasks queued without a time to run)
/// runnable now.
fn wake(conn: &mut SqliteConnection, workflow: &str) -> SqlResult<bool> {
    let woken = diesel::update(
        tasks::table
            .filter(tasks::workflow_id.eq(workflow))
            .filter(tasks::task_type.eq(TaskType::Llm.as_str()))
            .filter(tasks::status.eq(TaskStatus::Queued.as_str()))
            .filter(tasks::available_at.is_null()),
    )
    .set((
        tasks::available_at.eq(now().nullable()),
        tasks::updated_at.eq(now()),
        tasks::version.eq(tasks::version + 1),
    ))
    .execute(conn)?;
    Ok(woken > 0)
}

pub(crate) fn resume(conn: &mut SqliteConnection, workflow: WorkflowId) -> SqlResult<bool> {
    let id = id_text(workflow.as_uuid());
    let resumed = diesel::update(
        workflows::table
            .find(&id)
            .filter(workflows::status.eq(WorkflowStatus::Running.as_str()))
            .filter(workflows::paused.is_not_null()),
    )
    .set((
        workflows::paused.eq(None::<String>),
        workflows::updated_at.eq(now()),
        workflows::version.eq(workflows::version + 1),
    ))
    .execute(conn)?;
    if resumed == 0 {
        return Ok(false);
    }
    wake(conn, &id)?;
    events::append(conn, [&NewEvent::new(workflow, EventKind::WorkflowResumed)])?;
    Ok(true)
}

pub(crate) fn wake_unpaused(conn: &mut SqliteConnection, workflow: WorkflowId) -> SqlResult<bool> {
    let id = id_text(workflow.as_uuid());
    let paused: Option<Option<String>> = workflows::table
        .find(&id)
        .select(workflows::paused)
        .first(conn)
        .optional()?;
    match paused {
        Some(None) => wake(conn, &id),
        _ => Ok(false),
    }
}
