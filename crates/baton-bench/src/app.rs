//! Baton in this process, and the HTTP calls the benchmark makes to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use baton_server::store::Store;
use baton_server::{Application, Config};
use chrono::{DateTime, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

/// A running application (it serves until the process exits, or until [`Baton::stop`]).
pub struct Baton {
    pub base_url: String,
    pub store: Store,
    serving: JoinHandle<std::io::Result<()>>,
}

impl Baton {
    /// Drops the application: its listener closes, its HTTP workers are stopped and its
    /// runtime is dropped. Meant for an API-only app (`BATON_WORKERS=0`), which has no claim
    /// loop to leave behind.
    pub async fn stop(self) {
        self.serving.abort();
        // Cancelled, by now: the server and its runtime have been dropped.
        let _ = self.serving.await;
    }
}

/// Builds the application exactly as the `baton` binary does, from configuration read through
/// `Config::from_lookup`, and serves it in the background. Logging is not initialised, so the
/// application prints nothing.
pub async fn start(database_url: &str, workers: usize, pool: usize) -> anyhow::Result<Baton> {
    let vars = [
        ("DATABASE_URL", database_url.to_owned()),
        ("BATON_BIND", "127.0.0.1:0".to_owned()),
        ("BATON_WORKERS", workers.to_string()),
        ("BATON_DB_POOL_SIZE", pool.to_string()),
        ("BATON_LOG_FORMAT", "pretty".to_owned()),
        // The benchmark is one client sending thousands of requests: not what the limit is for.
        ("BATON_RATE_LIMIT_PER_MINUTE", "10000000".to_owned()),
        // No schedules here: the scheduler's polls would only add statements to the counts.
        ("BATON_SCHEDULER_POLL_MS", "60000".to_owned()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })?;
    let app = Application::build(config).await?;
    let base_url = format!("http://127.0.0.1:{}", app.port());
    let store = app.store().clone();
    let serving = tokio::spawn(app.run_until_stopped());
    Ok(Baton {
        base_url,
        store,
        serving,
    })
}

pub fn http_client() -> anyhow::Result<Client> {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .context("cannot build the HTTP client")
}

/// A workflow of `tasks` no-op transforms.
pub fn noop_workflow(name: &str, tasks: usize, start: bool) -> Value {
    let tasks: Vec<Value> = (0..tasks)
        .map(|_| json!({"type": "transform", "input": {"jq": "."}}))
        .collect();
    json!({"name": name, "input": {}, "tasks": tasks, "start": start})
}

/// POST /api/workflows; returns the new workflow's id.
pub async fn create(client: &Client, base_url: &str, body: &Value) -> anyhow::Result<Uuid> {
    let response = client
        .post(format!("{base_url}/api/workflows"))
        .json(body)
        .send()
        .await
        .context("POST /api/workflows")?;
    let status = response.status();
    let text = response.text().await?;
    if status != StatusCode::CREATED {
        bail!("POST /api/workflows answered {status}: {text}");
    }
    let created: Value = serde_json::from_str(&text)?;
    created["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .with_context(|| format!("no id in the created workflow: {text}"))
}

/// POSTs `total` copies of `body` from `concurrency` clients; returns the new workflows' ids.
pub async fn create_many(
    client: &Client,
    base_url: &str,
    body: Value,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Uuid>> {
    let body = Arc::new(body);
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        let (client, base_url, body, next) = (
            client.clone(),
            base_url.to_owned(),
            body.clone(),
            next.clone(),
        );
        clients.spawn(async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                ids.push(create(&client, &base_url, &body).await?);
            }
            anyhow::Ok(ids)
        });
    }
    let mut ids = Vec::with_capacity(total);
    while let Some(done) = clients.join_next().await {
        ids.extend(done??);
    }
    Ok(ids)
}

/// GET `path` (under `base_url`), expecting 200 and JSON.
pub async fn get_json(client: &Client, base_url: &str, path: &str) -> anyhow::Result<Value> {
    let response = client
        .get(format!("{base_url}{path}"))
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = response.status();
    let text = response.text().await?;
    if status != StatusCode::OK {
        bail!("GET {path} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("GET {path} answered no JSON"))
}

/// What GET /api/workflows/{id} says about a finished run.
#[derive(Debug, Clone)]
pub struct Finished {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl Finished {
    pub fn duration(&self) -> Duration {
        (self.finished_at - self.started_at)
            .to_std()
            .unwrap_or_default()
    }
}

/// GET /api/workflows/{id}: checks the workflow and its `tasks` tasks completed and returns the
/// database's start and finish times.
pub async fn finished(
    client: &Client,
    base_url: &str,
    id: Uuid,
    tasks: usize,
) -> anyhow::Result<Finished> {
    let workflow = get_json(client, base_url, &format!("/api/workflows/{id}")).await?;
    if workflow["status"] != "completed" {
        bail!("workflow {id} is {}, not completed", workflow["status"]);
    }
    let completed = workflow["tasks"].as_array().map_or(0, |tasks| {
        tasks
            .iter()
            .filter(|task| task["status"] == "completed")
            .count()
    });
    if completed != tasks {
        bail!("workflow {id} has {completed} completed tasks, expected {tasks}");
    }
    Ok(Finished {
        started_at: timestamp(&workflow, "started_at")?,
        finished_at: timestamp(&workflow, "finished_at")?,
    })
}

pub fn timestamp(workflow: &Value, field: &str) -> anyhow::Result<DateTime<Utc>> {
    let text = workflow[field]
        .as_str()
        .with_context(|| format!("the workflow has no {field}"))?;
    Ok(DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("{field} is not a timestamp: {text}"))?
        .with_timezone(&Utc))
}
