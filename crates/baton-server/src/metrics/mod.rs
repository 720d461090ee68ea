//! Prometheus metrics of one application: a registry of its own (so that applications sharing
//! a process, as tests do, count apart), fed by the executor (as its [`Observer`]), the HTTP
//! middleware and the event streams, and read at `GET /metrics` (administrators only).
//!
//! Series (OpenMetrics text; counters end in `_total`):
//! - `baton_tasks_started_total{type}`: runs of tasks begun by this process's workers;
//! - `baton_tasks_completed_total{type}`, `baton_tasks_failed_total{type}` (for good),
//!   `baton_tasks_retried_total{type}` (failed and queued again, lease expiries included);
//! - `baton_task_duration_seconds{type,outcome}`: a run from its start to its result applied;
//! - `baton_leases_expired_total{type}`: runs whose worker stopped answering;
//! - `baton_queue_depth`, `baton_queue_oldest_age_seconds`: runnable queued tasks and how long
//!   the oldest has waited, counted by the store at each scrape;
//! - `baton_sse_clients`: event streams open on this instance;
//! - `baton_http_requests_total{method,route,status}` and
//!   `baton_http_request_duration_seconds{method,route}`: `route` is the route's pattern
//!   (`/api/workflows/{id}`), `unmatched` for unknown paths;
//! - `baton_llm_tokens_total{model,kind}` (`prompt`, `completion`) of completed llm tasks, and
//!   `baton_llm_cost_usd_total{model}` for models priced by `BATON_LLM_PRICES`.

mod engine;
mod http;

use std::sync::Arc;
use std::time::Duration;

use baton_domain::ports::TaskQueue;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

pub use http::count_requests;

/// The longest a scrape waits for the store's queue count; past it the gauges keep their last
/// values.
pub const QUEUE_COUNT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    pub r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DurationLabels {
    pub r#type: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 5 ms to about 80 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Every series of one application.
pub struct Metrics {
    registry: Registry,
    pub(crate) tasks_started: Family<TaskLabels, Counter>,
    pub(crate) tasks_completed: Family<TaskLabels, Counter>,
    pub(crate) tasks_failed: Family<TaskLabels, Counter>,
    pub(crate) tasks_retried: Family<TaskLabels, Counter>,
    pub(crate) task_duration: Histograms<DurationLabels>,
    pub(crate) leases_expired: Family<TaskLabels, Counter>,
    queue_depth: Gauge,
    queue_oldest_age: Gauge<f64, AtomicU64>,
    sse_clients: Gauge,
    pub(crate) http_requests: Family<HttpLabels, Counter>,
    pub(crate) http_duration: Histograms<RouteLabels>,
    pub(crate) llm_tokens: Family<TokenLabels, Counter>,
    pub(crate) llm_cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("baton");
        let metrics = Self {
            tasks_started: Family::default(),
            tasks_completed: Family::default(),
            tasks_failed: Family::default(),
            tasks_retried: Family::default(),
            task_duration: Family::new_with_constructor(seconds),
            leases_expired: Family::default(),
            queue_depth: Gauge::default(),
            queue_oldest_age: Gauge::default(),
            sse_clients: Gauge::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(seconds),
            llm_tokens: Family::default(),
            llm_cost: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "tasks_started",
            "Runs of tasks begun by this process's workers",
            metrics.tasks_started.clone(),
        );
        r.register(
            "tasks_completed",
            "Runs of tasks that completed",
            metrics.tasks_completed.clone(),
        );
        r.register(
            "tasks_failed",
            "Runs of tasks that failed for good",
            metrics.tasks_failed.clone(),
        );
        r.register(
            "tasks_retried",
            "Runs of tasks that failed and were queued again",
            metrics.tasks_retried.clone(),
        );
        r.register(
            "task_duration_seconds",
            "A run of a task, from its start to its result applied",
            metrics.task_duration.clone(),
        );
        r.register(
            "leases_expired",
            "Runs whose worker stopped answering (lease expired)",
            metrics.leases_expired.clone(),
        );
        r.register(
            "queue_depth",
            "Queued tasks runnable now, by the store",
            metrics.queue_depth.clone(),
        );
        r.register(
            "queue_oldest_age_seconds",
            "How long the oldest runnable queued task has waited",
            metrics.queue_oldest_age.clone(),
        );
        r.register(
            "sse_clients",
            "Event streams open on this instance",
            metrics.sse_clients.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests by route pattern and status",
            metrics.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP requests by route pattern",
            metrics.http_duration.clone(),
        );
        r.register(
            "llm_tokens",
            "Tokens used by completed llm tasks, by model and kind",
            metrics.llm_tokens.clone(),
        );
        r.register(
            "llm_cost_usd",
            "Cost of completed llm tasks in US dollars, where priced",
            metrics.llm_cost.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Counts the queue (bounded by [`QUEUE_COUNT_TIMEOUT`]) and renders every series.
    pub async fn render(&self, queue: &dyn TaskQueue) -> Result<String, std::fmt::Error> {
        match tokio::time::timeout(QUEUE_COUNT_TIMEOUT, queue.queue_stats()).await {
            Ok(Ok(stats)) => {
                self.queue_depth
                    .set(i64::try_from(stats.depth).unwrap_or(i64::MAX));
                self.queue_oldest_age.set(stats.oldest_wait().as_secs_f64());
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "cannot count the queue for metrics"),
            Err(_) => tracing::warn!("counting the queue for metrics took too long"),
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// An event stream opened; the guard closes it when dropped.
    pub fn sse_client(self: &Arc<Self>) -> SseClient {
        self.sse_clients.inc();
        SseClient(self.clone())
    }
}

/// One open event stream, counted while it lives.
pub struct SseClient(Arc<Metrics>);

impl Drop for SseClient {
    fn drop(&mut self) {
        self.0.sse_clients.dec();
    }
}
