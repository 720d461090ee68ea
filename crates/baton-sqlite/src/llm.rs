//! What llm tasks keep: the usage ledger, the response cache, each model's shared pace (decided
//! in the write transaction: SQLite's one writer is the model's lock).

use baton_domain::ports::{Scope, StoreError};
use baton_domain::{
    BudgetAsk, BudgetDecision, LlmCall, ModelLimit, ModelPace, Pace, TaskId, UsageRow, UserId,
    WorkflowId,
};
use chrono::{DateTime, Utc};
use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use serde_json::Value;

use crate::error::SqlResult;
use crate::models::{id_text, json, uuid};
use crate::schema::{llm_cache, llm_calls, llm_model_pace, llm_reservations, workflows};
use crate::time::{later, now, parse, parse_opt, text};

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Call in a write transaction.
pub(crate) fn record(conn: &mut SqliteConnection, calls: &[LlmCall]) -> SqlResult<()> {
    for c in calls {
        diesel::insert_or_ignore_into(llm_calls::table)
            .values((
                llm_calls::id.eq(id_text(&c.id)),
                llm_calls::owner_id.eq(id_text(c.owner_id.as_uuid())),
                llm_calls::workflow_id.eq(id_text(c.workflow_id.as_uuid())),
                llm_calls::task_id.eq(id_text(c.task_id.as_uuid())),
                llm_calls::attempt.eq(c.attempt),
                llm_calls::model.eq(&c.model),
                llm_calls::prompt_tokens.eq(int(c.prompt_tokens)),
                llm_calls::completion_tokens.eq(int(c.completion_tokens)),
                llm_calls::estimated.eq(c.estimated),
                llm_calls::latency_ms.eq(int(c.latency_ms)),
                llm_calls::first_token_ms.eq(c.first_token_ms.map(int)),
                llm_calls::finish_reason.eq(c.finish_reason.as_deref()),
                llm_calls::cost_usd.eq(c.cost_usd),
                llm_calls::cached.eq(c.cached),
                llm_calls::error.eq(c.error.as_deref()),
            ))
            .execute(conn)?;
        // The line settles its task's reservation.
        diesel::delete(llm_reservations::table.find(id_text(c.task_id.as_uuid()))).execute(conn)?;
    }
    Ok(())
}

macro_rules! sums {
    () => {
        "count(*) AS calls,
       coalesce(sum(cached), 0) AS cached_calls,
       coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
       coalesce(sum(completion_tokens), 0) AS completion_tokens,
       coalesce(total(cost_usd), 0.0) AS cost_usd,
       coalesce(sum(cost_usd IS NULL), 0) AS unpriced_calls,
       coalesce(sum(estimated), 0) AS estimated_calls"
    };
}

#[derive(QueryableByName)]
struct Sums {
    #[diesel(sql_type = Nullable<Text>)]
    task_id: Option<String>,
    #[diesel(sql_type = Text)]
    model: String,
    #[diesel(sql_type = BigInt)]
    calls: i64,
    #[diesel(sql_type = BigInt)]
    cached_calls: i64,
    #[diesel(sql_type = BigInt)]
    prompt_tokens: i64,
    #[diesel(sql_type = BigInt)]
    completion_tokens: i64,
    #[diesel(sql_type = Double)]
    cost_usd: f64,
    #[diesel(sql_type = BigInt)]
    unpriced_calls: i64,
    #[diesel(sql_type = BigInt)]
    estimated_calls: i64,
}

fn usage_row(s: Sums) -> anyhow::Result<UsageRow> {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(UsageRow {
        task_id: s
            .task_id
            .as_deref()
            .map(uuid)
            .transpose()?
            .map(TaskId::from_uuid),
        model: s.model,
        calls: n(s.calls),
        cached_calls: n(s.cached_calls),
        prompt_tokens: n(s.prompt_tokens),
        completion_tokens: n(s.completion_tokens),
        cost_usd: s.cost_usd,
        unpriced_calls: n(s.unpriced_calls),
        estimated_calls: n(s.estimated_calls),
    })
}

/// Call in a read transaction: two statements.
pub(crate) fn workflow_usage(
    conn: &mut SqliteConnection,
    scope: Scope,
    workflow: WorkflowId,
) -> SqlResult<Vec<UsageRow>> {
    let id = id_text(workflow.as_uuid());
    let found: Option<String> = crate::workflows::scoped(scope)
        .filter(workflows::id.eq(&id))
        .select(workflows::id)
        .first(conn)
        .optional()?;
    if found.is_none() {
        return Err(StoreError::NotFound("workflow").into());
    }
    const QUERY: &str = concat!(
        "SELECT task_id, model, ",
        sums!(),
        " FROM llm_calls WHERE workflow_id = ?1 GROUP BY task_id, model ORDER BY task_id, model"
    );
    let rows: Vec<Sums> = diesel::sql_query(QUERY).bind::<Text, _>(&id).load(conn)?;
    Ok(rows
        .into_iter()
        .map(usage_row)
        .collect::<anyhow::Result<_>>()?)
}

pub(crate) fn owner_usage(
    conn: &mut SqliteConnection,
    owner: UserId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SqlResult<Vec<UsageRow>> {
    const QUERY: &str = concat!(
        "SELECT NULL AS task_id, model, ",
        sums!(),
        " FROM llm_calls WHERE owner_id = ?1 AND created_at >= ?2 AND created_at < ?3 \
         GROUP BY model ORDER BY model"
    );
    let rows: Vec<Sums> = diesel::sql_query(QUERY)
        .bind::<Text, _>(id_text(owner.as_uuid()))
        .bind::<Text, _>(text(from))
        .bind::<Text, _>(text(to))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(usage_row)
        .collect::<anyhow::Result<_>>()?)
}

pub(crate) fn cached(conn: &mut SqliteConnection, key: &str) -> SqlResult<Option<Value>> {
    let answer: Option<String> = llm_cache::table
        .filter(llm_cache::key.eq(key))
        .filter(llm_cache::expires_at.gt(now()))
        .select(llm_cache::answer)
        .first(conn)
        .optional()?;
    Ok(answer.as_deref().map(json).transpose()?)
}

/// Call in a write transaction.
pub(crate) fn cache(
    conn: &mut SqliteConnection,
    key: &str,
    owner: UserId,
    answer: &Value,
    ttl_ms: u64,
) -> SqlResult<()> {
    let expires = later(std::time::Duration::from_millis(ttl_ms));
    let answer = answer.to_string();
    diesel::insert_into(llm_cache::table)
        .values((
            llm_cache::key.eq(key),
            llm_cache::owner_id.eq(id_text(owner.as_uuid())),
            llm_cache::answer.eq(&answer),
            llm_cache::expires_at.eq(expires.clone()),
        ))
        .on_conflict(llm_cache::key)
        .do_update()
        .set((
            llm_cache::answer.eq(&answer),
            llm_cache::created_at.eq(now()),
            llm_cache::expires_at.eq(expires),
        ))
        .execute(conn)?;
    Ok(())
}

type PaceRow = (Option<String>, Option<String>, Option<String>);

fn read_pace(conn: &mut SqliteConnection, model: &str) -> SqlResult<ModelPace> {
    let row: Option<PaceRow> = llm_model_pace::table
        .filter(llm_model_pace::model.eq(model))
        .select((
            llm_model_pace::requests_at,
            llm_model_pace::tokens_at,
            llm_model_pace::held_until,
        ))
        .first(conn)
        .optional()?;
    let Some((requests_at, tokens_at, held_until)) = row else {
        return Ok(ModelPace::default());
    };
    Ok(ModelPace {
        requests_at: parse_opt(requests_at.as_deref())?,
        tokens_at: parse_opt(tokens_at.as_deref())?,
        held_until: parse_opt(held_until.as_deref())?,
    })
}

fn keep(conn: &mut SqliteConnection, model: &str, pace: &ModelPace) -> SqlResult<()> {
    let columns = (
        llm_model_pace::requests_at.eq(pace.requests_at.map(text)),
        llm_model_pace::tokens_at.eq(pace.tokens_at.map(text)),
        llm_model_pace::held_until.eq(pace.held_until.map(text)),
    );
    diesel::insert_into(llm_model_pace::table)
        .values((llm_model_pace::model.eq(model), columns.clone()))
        .on_conflict(llm_model_pace::model)
        .do_update()
        .set(columns)
        .execute(conn)?;
    Ok(())
}

fn clock(conn: &mut SqliteConnection) -> SqlResult<DateTime<Utc>> {
    let now: String = diesel::select(now()).get_result(conn)?;
    Ok(parse(&now)?)
}

/// Call in a write transaction.
pub(crate) fn pace(
    conn: &mut SqliteConnection,
    model: &str,
    limit: &ModelLimit,
    tokens: u64,
) -> SqlResult<Pace> {
    let state = read_pace(conn, model)?;
    let decided = state.decide(clock(conn)?, limit, tokens);
    if let Pace::Go(next) = &decided {
        keep(conn, model, next)?;
    }
    Ok(decided)
}

/// Call in a write transaction.
pub(crate) fn hold(conn: &mut SqliteConnection, model: &str, ms: u64) -> SqlResult<()> {
    let state = read_pace(conn, model)?;
    let until = clock(conn)? + chrono::TimeDelta::milliseconds(int(ms));
    keep(conn, model, &state.held(until))
}

#[async_trait::async_trait]
impl baton_domain::ports::LlmStore for crate::store::SqliteStore {
    async fn record_calls(&self, calls: &[LlmCall]) -> Result<(), StoreError> {
        let calls = calls.to_vec();
        self.write(move |conn| record(conn, &calls)).await
    }

    async fn workflow_usage(
        &self,
        scope: Scope,
        workflow: WorkflowId,
    ) -> Result<Vec<UsageRow>, StoreError> {
        self.snapshot(move |conn| workflow_usage(conn, scope, workflow))
            .await
    }

    async fn owner_usage(
        &self,
        owner: UserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageRow>, StoreError> {
        self.read(move |conn| owner_usage(conn, owner, from, to))
            .await
    }

    async fn cached_answer(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| cached(conn, &key)).await
    }

    async fn cache_answer(
        &self,
        key: &str,
        owner: UserId,
        answer: &Value,
        ttl_ms: u64,
    ) -> Result<(), StoreError> {
        let (key, answer) = (key.to_owned(), answer.clone());
        self.write(move |conn| cache(conn, &key, owner, &answer, ttl_ms))
            .await
    }

    async fn pace_call(
        &self,
        model: &str,
        limit: &ModelLimit,
        tokens: u64,
    ) -> Result<Pace, StoreError> {
        let (model, limit) = (model.to_owned(), *limit);
        self.write(move |conn| pace(conn, &model, &limit, tokens))
            .await
    }

    async fn hold_model(&self, model: &str, ms: u64) -> Result<(), StoreError> {
        let model = model.to_owned();
        self.write(move |conn| hold(conn, &model, ms)).await
    }

    async fn reserve_budget(
        &self,
        workflow: WorkflowId,
        task: TaskId,
        ask: BudgetAsk,
    ) -> Result<BudgetDecision, StoreError> {
        // Most workflows have no budget: a read, without taking the writer.
        if !self
            .read(move |conn| crate::budget::has_budget(conn, workflow))
            .await?
        {
            return Ok(BudgetDecision::Unlimited);
        }
        self.write(move |conn| crate::budget::reserve(conn, workflow, task, ask))
            .await
    }

    async fn wake_unpaused(&self, workflow: WorkflowId) -> Result<bool, StoreError> {
        self.write(move |conn| crate::budget::wake_unpaused(conn, workflow))
            .await
    }
}
