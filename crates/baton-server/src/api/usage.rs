//! The usage ledger, totalled: `GET /api/workflows/{id}/usage` per model and per task, and
//! `GET /api/usage?from=&to=` per model over the caller's own calls.

use actix_web::{HttpResponse, web};
use baton_domain::{UsageReport, UsageTotals};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::dto::ErrorBody;
use super::responses::{RateLimited, Unauthorized, Unavailable};
use super::{AppState, Caller};
use crate::error::ApiError;

/// Totals of some provider calls.
#[derive(Serialize, ToSchema)]
pub struct TotalsView {
    pub calls: u64,
    /// Answers served from the response cache (no provider call, cost 0).
    pub cached_calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// By the configured prices (`BATON_LLM_PRICES`), of the priced calls only.
    pub cost_usd: f64,
    /// Calls of models without a configured price: not in `cost_usd`.
    pub unpriced_calls: u64,
    /// Calls whose provider sent no token counts: their tokens are estimates.
    pub estimated_calls: u64,
}

impl From<UsageTotals> for TotalsView {
    fn from(t: UsageTotals) -> Self {
        Self {
            calls: t.calls,
            cached_calls: t.cached_calls,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            total_tokens: t.total_tokens,
            cost_usd: t.cost_usd,
            unpriced_calls: t.unpriced_calls,
            estimated_calls: t.estimated_calls,
        }
    }
}

/// Usage totals.
#[derive(Serialize, ToSchema)]
pub struct UsageView {
    pub total: TotalsView,
    /// By model name.
    pub by_model: BTreeMap<String, TotalsView>,
    /// By task id (a workflow's usage only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_task: Option<BTreeMap<String, TotalsView>>,
    /// The period (an owner's usage only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

fn view(report: UsageReport, per_task: bool) -> UsageView {
    let map = |m: BTreeMap<String, UsageTotals>| {
        m.into_iter()
            .map(|(k, v)| (k, TotalsView::from(v)))
            .collect::<BTreeMap<_, _>>()
    };
    UsageView {
        total: report.total.into(),
        by_model: map(report.by_model),
        by_task: per_task.then(|| map(report.by_task)),
        from: None,
        to: None,
    }
}

/// A workflow's LLM usage
///
/// Every provider call of its `llm` tasks (failed ones and answers from the cache included),
/// totalled per model and per task.
#[utoipa::path(
    get, path = "/api/workflows/{id}/usage", tag = "usage", operation_id = "workflowUsage",
    params(("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Its totals", body = UsageView),
        (status = 400, description = "An id that is not a UUID", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn workflow(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let rows = state
        .usage
        .workflow_usage(caller.scope, (*id).into())
        .await?;
    Ok(HttpResponse::Ok().json(view(UsageReport::from_rows(&rows), true)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// RFC 3339; default: 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive; default: now.
    pub to: Option<DateTime<Utc>>,
}

/// The caller's LLM usage
///
/// The caller's own provider calls from `from` to `to`, totalled per model.
#[utoipa::path(
    get, path = "/api/usage", tag = "usage", operation_id = "ownerUsage",
    params(Period),
    responses(
        (status = 200, description = "The caller's totals over the period", body = UsageView),
        (status = 400, description = "A malformed time, or `from` after `to`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn owner(
    state: web::Data<AppState>,
    caller: Caller,
    period: web::Query<Period>,
) -> Result<HttpResponse, ApiError> {
    let to = period.to.unwrap_or_else(Utc::now);
    let from = period.from.unwrap_or(to - Duration::days(30));
    if from > to {
        return Err(ApiError::bad_request("`from` must not be after `to`"));
    }
    let rows = state.usage.owner_usage(caller.user, from, to).await?;
    let mut body = view(UsageReport::from_rows(&rows), false);
    body.from = Some(from);
    body.to = Some(to);
    Ok(HttpResponse::Ok().json(body))
}
