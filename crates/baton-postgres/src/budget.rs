//! Budgets of llm calls: reservations decided under a lock of the workflow's row, the pause a
//! refused call sets, and resuming (see `baton_domain::Budget`).

use baton_domain::{
    Budget, BudgetAsk, BudgetDecision, EventKind, NewEvent, Spend, TaskId, TaskStatus, TaskType,
    WorkflowId, WorkflowStatus,
};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{PgError, PgResult};
use crate::events::{self, WORK_CHANNEL};
use crate::models::NewEventRow;
use crate::schema::{llm_reservations, tasks, workflows};

/// What a workflow's calls used (its ledger) and what the other tasks' calls in flight
/// reserved; `sum(bigint)` is numeric in Postgres, hence the casts.
const SPENT_AND_RESERVED: &str = "\
SELECT (SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::int8
          FROM llm_calls WHERE workflow_id = $1) AS spent_tokens,
       (SELECT coalesce(sum(cost_usd), 0)::float8
          FROM llm_calls WHERE workflow_id = $1) AS spent_usd,
       (SELECT coalesce(sum(tokens), 0)::int8
          FROM llm_reservations WHERE workflow_id = $1 AND task_id <> $2) AS reserved_tokens,
       (SELECT coalesce(sum(cost_usd), 0)::float8
          FROM llm_reservations WHERE workflow_id = $1 AND task_id <> $2) AS reserved_usd";

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

pub(crate) async fn reserve(
    conn: &mut AsyncPgConnection,
    workflow: WorkflowId,
    task: TaskId,
    ask: BudgetAsk,
) -> PgResult<BudgetDecision> {
    let workflow = *workflow.as_uuid();
    let task = *task.as_uuid();
    // Most workflows have no budget: one read, no lock.
    let budget: Option<Option<Value>> = workflows::table
        .find(workflow)
        .select(workflows::budget)
        .first(conn)
        .await
        .optional()?;
    if budget.flatten().is_none() {
        return Ok(BudgetDecision::Unlimited);
    }
    conn.transaction(async move |conn| {
        let (budget, paused): (Option<Value>, Option<Value>) = workflows::table
            .find(workflow)
            .select((workflows::budget, workflows::paused))
            .for_update()
            .first(conn)
            .await?;
        let Some(budget) = budget.and_then(|b| serde_json::from_value::<Budget>(b).ok()) else {
            return Ok(BudgetDecision::Unlimited);
        };
        let sums: Sums = diesel::sql_query(SPENT_AND_RESERVED)
            .bind::<SqlUuid, _>(workflow)
            .bind::<SqlUuid, _>(task)
            .get_result(conn)
            .await?;
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
                        llm_reservations::task_id.eq(task),
                        llm_reservations::workflow_id.eq(workflow),
                        llm_reservations::tokens.eq(tokens),
                        llm_reservations::cost_usd.eq(cost),
                    ))
                    .on_conflict(llm_reservations::task_id)
                    .do_update()
                    .set((
                        llm_reservations::tokens.eq(tokens),
                        llm_reservations::cost_usd.eq(cost),
                        llm_reservations::created_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
            }
            BudgetDecision::Exceeded(detail) => {
                diesel::delete(llm_reservations::table.find(task))
                    .execute(conn)
                    .await?;
                if paused.is_none() {
                    diesel::update(workflows::table.find(workflow))
                        .set(workflows::paused.eq(detail))
                        .execute(conn)
                        .await?;
                }
            }
            BudgetDecision::Unlimited | BudgetDecision::Unknowable(_) => {}
        }
        Ok::<_, PgError>(decided)
    })
    .await
}

/// The tasks of `workflow` its budget parked: `llm` tasks queued without a time to run.
fn parked(workflow: Uuid) -> tasks::BoxedQuery<'static, diesel::pg::Pg, diesel::sql_types::Uuid> {
    tasks::table
        .filter(tasks::workflow_id.eq(workflow))
        .filter(tasks::task_type.eq(TaskType::Llm.as_str()))
        .filter(tasks::status.eq(TaskStatus::Queued.as_str()))
        .filter(tasks::available_at.is_null())
        .select(tasks::id)
        .into_boxed()
}

async fn wake(conn: &mut AsyncPgConnection, workflow: Uuid) -> PgResult<bool> {
    let woken = diesel::update(tasks::table)
        .filter(tasks::id.eq_any(parked(workflow)))
        .set((
            tasks::available_at.eq(now),
            tasks::updated_at.eq(now),
            tasks::version.eq(tasks::version + 1),
        ))
        .execute(conn)
        .await?;
    if woken > 0 {
        events::notify(conn, WORK_CHANNEL, "").await?;
    }
    Ok(woken > 0)
}

pub(crate) async fn resume(conn: &mut AsyncPgConnection, workflow: WorkflowId) -> PgResult<bool> {
    conn.transaction(async move |conn| {
        let id = *workflow.as_uuid();
        let resumed = diesel::update(workflows::table.find(id))
            .filter(workflows::status.eq(WorkflowStatus::Running.as_str()))
            .filter(workflows::paused.is_not_null())
            .set((
                workflows::paused.eq(None::<Value>),
                workflows::updated_at.eq(now),
                workflows::version.eq(workflows::version + 1),
            ))
            .execute(conn)
            .await?;
        if resumed == 0 {
            return Ok(false);
        }
        wake(conn, id).await?;
        let event = NewEvent::new(workflow, EventKind::WorkflowResumed);
        events::append(conn, vec![NewEventRow::from(&event)]).await?;
        Ok::<_, PgError>(true)
    })
    .await
}

pub(crate) async fn wake_unpaused(
    conn: &mut AsyncPgConnection,
    workflow: WorkflowId,
) -> PgResult<bool> {
    let id = *workflow.as_uuid();
    conn.transaction(async move |conn| {
        let paused: Option<Option<Value>> = workflows::table
            .find(id)
            .select(workflows::paused)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        match paused {
            Some(None) => wake(conn, id).await,
            _ => Ok(false),
        }
    })
    .await
}
