//! The calls of one attempt of an `llm` task: each paced by its model's shared limits (a model
//! the provider rate-limited waits, on every instance, without using an attempt), streamed,
//! and written to the usage ledger; answers kept in and served from the response cache.

use std::time::Duration;

use baton_domain::ports::LlmClient;
use baton_domain::{
    BUDGET_EXCEEDED, BudgetAsk, BudgetDecision, Claim, LlmCall, LlmRequest, Pace, TaskError, Usage,
    estimate_tokens,
};
use serde_json::Value;

use super::stream::{Answer, CallMade, Streamer};
use crate::tasks::Deps;

/// The longest single wait for a model's pace before asking the store again.
const LONGEST_PACE_WAIT: Duration = Duration::from_secs(5);
/// How long a 429 without a hint holds its model.
const DEFAULT_HOLD: Duration = Duration::from_secs(1);

pub struct Caller<'d, 'a> {
    deps: &'d Deps<'a>,
    client: &'a dyn LlmClient,
    claim: &'d Claim,
    pub streamer: Streamer<'d, 'a>,
}

impl<'d, 'a> Caller<'d, 'a> {
    pub fn new(deps: &'d Deps<'a>, client: &'a dyn LlmClient, claim: &'d Claim) -> Self {
        Self {
            deps,
            client,
            claim,
            streamer: Streamer::new(deps, claim),
        }
    }

    /// The provider's counts over this attempt's calls.
    pub fn usage(&self) -> Option<Usage> {
        self.streamer
            .calls
            .iter()
            .filter_map(|c| c.usage)
            .reduce(|a, b| Usage {
                prompt_tokens: a.prompt_tokens + b.prompt_tokens,
                completion_tokens: a.completion_tokens + b.completion_tokens,
            })
    }

    /// One call of `request` (its model set). A 429 holds the model everywhere for as long as
    /// the provider asked; unless another model follows (`last` false), the call then waits
    /// and goes again within this attempt.
    pub async fn call(&mut self, request: &LlmRequest, last: bool) -> Result<Answer, TaskError> {
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| self.client.default_model().to_owned());
        let prompt = prompt_estimate(request);
        let worst = prompt + u64::from(request.max_tokens.unwrap_or(0));
        loop {
            self.reserve(&model, prompt, request.max_tokens).await?;
            self.pace(&model, worst).await?;
            let result = self
                .streamer
                .call(self.client, request.clone(), &model)
                .await;
            // A rate limit holds the model before the call is written down: once its ledger
            // line is there, every instance waits.
            if let Err(error) = &result
                && error.status == Some(429)
            {
                let hold = error.retry_after.unwrap_or(DEFAULT_HOLD);
                tracing::info!(%model, ?hold, "the provider rate-limited the model; holding it");
                let ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX);
                if let Err(err) = self.deps.queue.hold_model(&model, ms).await {
                    tracing::warn!(error = %err, "cannot hold the rate-limited model");
                }
            }
            if let Some(made) = self.streamer.calls.last().cloned() {
                self.ledger(&made, prompt, false).await;
            }
            match result {
                Err(error) if error.status == Some(429) && last => self.streamer.rewind(),
                other => return other,
            }
        }
    }

    /// Reserves the call's worst case against its workflow's budget. A call that does not fit
    /// ends the attempt with a [`BUDGET_EXCEEDED`] error carrying the decision's detail: the
    /// task is parked (the store has paused the workflow), not failed.
    async fn reserve(
        &self,
        model: &str,
        prompt: u64,
        max_tokens: Option<u32>,
    ) -> Result<(), TaskError> {
        let completion = max_tokens.map(u64::from);
        let ask = BudgetAsk {
            tokens: completion.map(|c| prompt + c),
            cost_usd: completion
                .and_then(|c| self.deps.llm_policy.price(model).map(|p| p.cost(prompt, c))),
        };
        let task = &self.claim.task;
        let decided = self
            .deps
            .queue
            .reserve_budget(task.workflow_id, task.id, ask)
            .await
            .map_err(|err| {
                TaskError::retryable("store", format!("cannot read the workflow's budget: {err}"))
            })?;
        match decided {
            BudgetDecision::Unlimited | BudgetDecision::Fits => Ok(()),
            BudgetDecision::Exceeded(detail) => {
                tracing::info!(%detail, "the call does not fit the workflow's budget; pausing");
                Err(TaskError {
                    detail: Some(detail),
                    ..TaskError::permanent(BUDGET_EXCEEDED, "the call does not fit the budget")
                })
            }
            BudgetDecision::Unknowable(message) => Err(TaskError::permanent("llm_budget", message)),
        }
    }

    /// Waits until the model's shared pace lets a call of about `tokens` go.
    async fn pace(&self, model: &str, tokens: u64) -> Result<(), TaskError> {
        let limit = self.deps.llm_policy.limit(model);
        loop {
            match self.deps.queue.pace_call(model, &limit, tokens).await {
                Ok(Pace::Go(_)) => return Ok(()),
                Ok(Pace::Wait(wait)) => tokio::time::sleep(wait.min(LONGEST_PACE_WAIT)).await,
                Err(err) => {
                    return Err(TaskError::retryable(
                        "store",
                        format!("cannot read the model's shared limits: {err}"),
                    ));
                }
            }
        }
    }

    /// Writes a ledger line for a call (an answer served from the cache when `cached`).
    async fn ledger(&self, made: &CallMade, prompt_estimate: u64, cached: bool) {
        let task = &self.claim.task;
        let (prompt_tokens, completion_tokens, estimated) = match made.usage {
            Some(u) => (u.prompt_tokens, u.completion_tokens, false),
            None if cached => (0, 0, false),
            None => (
                prompt_estimate,
                (made.streamed_chars as u64).div_ceil(4),
                true,
            ),
        };
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let cost_usd = if cached {
            Some(0.0)
        } else {
            self.deps
                .llm_policy
                .price(&made.model)
                .map(|p| p.cost(prompt_tokens, completion_tokens))
        };
        let line = LlmCall {
            id: uuid::Uuid::now_v7(),
            owner_id: task.owner_id,
            workflow_id: task.workflow_id,
            task_id: task.id,
            attempt: task.attempt,
            model: made.model.clone(),
            prompt_tokens,
            completion_tokens,
            estimated,
            latency_ms: millis(made.latency),
            first_token_ms: made.first_token.map(millis),
            finish_reason: made.finish_reason.clone(),
            cost_usd,
            cached,
            error: made.error.clone(),
        };
        if let Err(err) = self.deps.queue.record_calls(&[line]).await {
            tracing::warn!(error = %err, "cannot write the call to the usage ledger");
        }
    }

    /// The output kept under `key`, streamed as one piece and written to the ledger as a
    /// cached answer; `None` when nothing (unexpired) is kept.
    pub async fn cached(&mut self, key: &str) -> Result<Option<Value>, TaskError> {
        let kept = match self.deps.answers.get(key) {
            Some(output) => Some(output),
            None => match self.deps.queue.cached_answer(key).await {
                Ok(found) => found,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the response cache");
                    None
                }
            },
        };
        let Some(mut output) = kept else {
            return Ok(None);
        };
        let text = output
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.streamer.whole(text).await?;
        let made = CallMade {
            model: output
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            usage: None,
            latency: Duration::ZERO,
            first_token: None,
            finish_reason: output
                .get("finish_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            error: None,
            streamed_chars: 0,
        };
        self.ledger(&made, 0, true).await;
        output["cached"] = Value::Bool(true);
        output["calls"] = Value::from(0);
        Ok(Some(output))
    }

    /// Keeps an answer's output under `key` for `ttl`, here and in the store.
    pub async fn keep(&self, key: &str, output: &Value, ttl: Duration) {
        self.deps.answers.put(key.to_owned(), output.clone(), ttl);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if let Err(err) = self
            .deps
            .queue
            .cache_answer(key, self.claim.task.owner_id, output, ttl_ms)
            .await
        {
            tracing::warn!(error = %err, "cannot keep the answer in the response cache");
        }
    }
}

/// Tokens of the request's messages, estimated.
fn prompt_estimate(request: &LlmRequest) -> u64 {
    request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .sum()
}
