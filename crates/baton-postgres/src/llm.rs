//! What llm tasks keep: the usage ledger, the response cache, each model's shared pace.

use baton_domain::ports::{Scope, StoreError};
use baton_domain::{
    BudgetAsk, BudgetDecision, LlmCall, ModelLimit, ModelPace, Pace, TaskId, UsageRow, UserId,
    WorkflowId,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{PgError, PgResult};
use crate::schema::{llm_cache, llm_calls, llm_model_pace, llm_reservations, workflows};

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) async fn record(conn: &mut AsyncPgConnection, calls: &[LlmCall]) -> PgResult<()> {
    let rows: Vec<_> = calls
        .iter()
        .map(|c| {
            (
                llm_calls::id.eq(c.id),
                llm_calls::owner_id.eq(*c.owner_id.as_uuid()),
                llm_calls::workflow_id.eq(*c.workflow_id.as_uuid()),
                llm_calls::task_id.eq(*c.task_id.as_uuid()),
                llm_calls::attempt.eq(c.attempt),
                llm_calls::model.eq(&c.model),
                llm_calls::prompt_tokens.eq(tokens(c.prompt_tokens)),
                llm_calls::completion_tokens.eq(tokens(c.completion_tokens)),
                llm_calls::estimated.eq(c.estimated),
                llm_calls::latency_ms.eq(tokens(c.latency_ms)),
                llm_calls::first_token_ms.eq(c.first_token_ms.map(tokens)),
                llm_calls::finish_reason.eq(c.finish_reason.as_deref()),
                llm_calls::cost_usd.eq(c.cost_usd),
                llm_calls::cached.eq(c.cached),
                llm_calls::error.eq(c.error.as_deref()),
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let settled: Vec<Uuid> = calls.iter().map(|c| *c.task_id.as_uuid()).collect();
    conn.transaction(async move |conn| {
        diesel::insert_into(llm_calls::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        diesel::delete(llm_reservations::table.filter(llm_reservations::task_id.eq_any(settled)))
            .execute(conn)
            .await?;
        Ok::<_, PgError>(())
    })
    .await
}

/// The sums of a ledger's lines; `sum(bigint)` is numeric in Postgres, hence the casts.
macro_rules! sums {
    () => {
        "count(*)::int8 AS calls,
       count(*) FILTER (WHERE cached)::int8 AS cached_calls,
       coalesce(sum(prompt_tokens), 0)::int8 AS prompt_tokens,
       coalesce(sum(completion_tokens), 0)::int8 AS completion_tokens,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
       count(*) FILTER (WHERE cost_usd IS NULL)::int8 AS unpriced_calls,
       count(*) FILTER (WHERE estimated)::int8 AS estimated_calls"
    };
}

#[derive(QueryableByName)]
struct Sums {
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    task_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Text)]
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

impl From<Sums> for UsageRow {
    fn from(s: Sums) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        UsageRow {
            task_id: s.task_id.map(TaskId::from_uuid),
            model: s.model,
            calls: n(s.calls),
            cached_calls: n(s.cached_calls),
            prompt_tokens: n(s.prompt_tokens),
            completion_tokens: n(s.completion_tokens),
            cost_usd: s.cost_usd,
            unpriced_calls: n(s.unpriced_calls),
            estimated_calls: n(s.estimated_calls),
        }
    }
}

pub(crate) async fn workflow_usage(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    workflow: WorkflowId,
) -> Result<Vec<UsageRow>, StoreError> {
    let id = *workflow.as_uuid();
    let found: Option<Uuid> = crate::workflows::scoped(scope)
        .filter(workflows::id.eq(id))
        .select(workflows::id)
        .first(conn)
        .await
        .optional()
        .map_err(PgError::from)?;
    if found.is_none() {
        return Err(StoreError::NotFound("workflow"));
    }
    const QUERY: &str = concat!(
        "SELECT task_id, model, ",
        sums!(),
        " FROM llm_calls WHERE workflow_id = $1 GROUP BY task_id, model ORDER BY task_id, model"
    );
    let rows: Vec<Sums> = diesel::sql_query(QUERY)
        .bind::<diesel::sql_types::Uuid, _>(id)
        .load(conn)
        .await
        .map_err(PgError::from)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn owner_usage(
    conn: &mut AsyncPgConnection,
    owner: UserId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> PgResult<Vec<UsageRow>> {
    const QUERY: &str = concat!(
        "SELECT NULL::uuid AS task_id, model, ",
        sums!(),
        " FROM llm_calls WHERE owner_id = $1 AND created_at >= $2 AND created_at < $3 \
         GROUP BY model ORDER BY model"
    );
    let rows: Vec<Sums> = diesel::sql_query(QUERY)
        .bind::<diesel::sql_types::Uuid, _>(*owner.as_uuid())
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn cached(conn: &mut AsyncPgConnection, key: &str) -> PgResult<Option<Value>> {
    Ok(llm_cache::table
        .filter(llm_cache::key.eq(key))
        .filter(llm_cache::expires_at.gt(diesel::dsl::now))
        .select(llm_cache::answer)
        .first(conn)
        .await
        .optional()?)
}

pub(crate) async fn cache(
    conn: &mut AsyncPgConnection,
    key: &str,
    owner: UserId,
    answer: &Value,
    ttl_ms: u64,
) -> PgResult<()> {
    let now = clock(conn).await?;
    let expires = now + chrono::TimeDelta::milliseconds(tokens(ttl_ms));
    diesel::insert_into(llm_cache::table)
        .values((
            llm_cache::key.eq(key),
            llm_cache::owner_id.eq(*owner.as_uuid()),
            llm_cache::answer.eq(answer),
            llm_cache::expires_at.eq(expires),
        ))
        .on_conflict(llm_cache::key)
        .do_update()
        .set((
            llm_cache::answer.eq(answer),
            llm_cache::created_at.eq(now),
            llm_cache::expires_at.eq(expires),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

type PaceRow = (
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// The model's row, created when missing, locked until the transaction ends.
async fn locked(conn: &mut AsyncPgConnection, model: &str) -> PgResult<ModelPace> {
    diesel::insert_into(llm_model_pace::table)
        .values(llm_model_pace::model.eq(model))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let (requests_at, tokens_at, held_until): PaceRow = llm_model_pace::table
        .filter(llm_model_pace::model.eq(model))
        .select((
            llm_model_pace::requests_at,
            llm_model_pace::tokens_at,
            llm_model_pace::held_until,
        ))
        .for_update()
        .first(conn)
        .await?;
    Ok(ModelPace {
        requests_at,
        tokens_at,
        held_until,
    })
}

async fn keep(conn: &mut AsyncPgConnection, model: &str, pace: &ModelPace) -> PgResult<()> {
    diesel::update(llm_model_pace::table.filter(llm_model_pace::model.eq(model)))
        .set((
            llm_model_pace::requests_at.eq(pace.requests_at),
            llm_model_pace::tokens_at.eq(pace.tokens_at),
            llm_model_pace::held_until.eq(pace.held_until),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

diesel::define_sql_function! {
    /// The time now, not the transaction's start (`now()`): read after the model's row lock was
    /// granted, it is never earlier than the time the previous holder decided at.
    fn clock_timestamp() -> Timestamptz;
}

async fn clock(conn: &mut AsyncPgConnection) -> PgResult<DateTime<Utc>> {
    Ok(diesel::select(clock_timestamp()).get_result(conn).await?)
}

pub(crate) async fn pace(
    conn: &mut AsyncPgConnection,
    model: &str,
    limit: &ModelLimit,
    tokens_needed: u64,
) -> PgResult<Pace> {
    let model = model.to_owned();
    let limit = *limit;
    conn.transaction(async move |conn| {
        let state = locked(conn, &model).await?;
        let now = clock(conn).await?;
        let decided = state.decide(now, &limit, tokens_needed);
        if let Pace::Go(next) = &decided {
            keep(conn, &model, next).await?;
        }
        Ok::<_, PgError>(decided)
    })
    .await
}

pub(crate) async fn hold(conn: &mut AsyncPgConnection, model: &str, ms: u64) -> PgResult<()> {
    let model = model.to_owned();
    conn.transaction(async move |conn| {
        let state = locked(conn, &model).await?;
        let until = clock(conn).await? + chrono::TimeDelta::milliseconds(tokens(ms));
        keep(conn, &model, &state.held(until)).await
    })
    .await
}

#[async_trait::async_trait]
impl baton_domain::ports::LlmStore for crate::store::PgStore {
    async fn record_calls(&self, calls: &[LlmCall]) -> Result<(), StoreError> {
        Ok(record(&mut *self.conn().await?, calls).await?)
    }

    async fn workflow_usage(
        &self,
        scope: Scope,
        workflow: WorkflowId,
    ) -> Result<Vec<UsageRow>, StoreError> {
        workflow_usage(&mut *self.conn().await?, scope, workflow).await
    }

    async fn owner_usage(
        &self,
        owner: UserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageRow>, StoreError> {
        Ok(owner_usage(&mut *self.conn().await?, owner, from, to).await?)
    }

    async fn cached_answer(&self, key: &str) -> Result<Option<Value>, StoreError> {
        Ok(cached(&mut *self.conn().await?, key).await?)
    }

    async fn cache_answer(
        &self,
        key: &str,
        owner: UserId,
        answer: &Value,
        ttl_ms: u64,
    ) -> Result<(), StoreError> {
        Ok(cache(&mut *self.conn().await?, key, owner, answer, ttl_ms).await?)
    }

    async fn pace_call(
        &self,
        model: &str,
        limit: &ModelLimit,
        tokens: u64,
    ) -> Result<Pace, StoreError> {
        Ok(pace(&mut *self.conn().await?, model, limit, tokens).await?)
    }

    async fn hold_model(&self, model: &str, ms: u64) -> Result<(), StoreError> {
        Ok(hold(&mut *self.conn().await?, model, ms).await?)
    }

    async fn reserve_budget(
        &self,
        workflow: WorkflowId,
        task: TaskId,
        ask: BudgetAsk,
    ) -> Result<BudgetDecision, StoreError> {
        Ok(crate::budget::reserve(&mut *self.conn().await?, workflow, task, ask).await?)
    }

    async fn wake_unpaused(&self, workflow: WorkflowId) -> Result<bool, StoreError> {
        Ok(crate::budget::wake_unpaused(&mut *self.conn().await?, workflow).await?)
    }
}
