//! Completion detection through Baton's HTTP API (SQLite: the store is inside the app, and the
//! benchmark reads it only as a client would). Every call here is a read of the app's store, so
//! it is counted in `statements_executed()`: callers count their calls and subtract
//! [`statements_per_call`] of them.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, bail};
use baton_server::store::Store;
use chrono::{DateTime, Utc};
use reqwest::Client;
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;

use crate::app;

/// Waits until workflow `id` has completed, GETting it every `poll`; how many GETs it took.
pub async fn wait_completed(
    client: &Client,
    base_url: &str,
    id: Uuid,
    poll: Duration,
    limit: Duration,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + limit;
    let mut gets = 0;
    loop {
        let workflow = app::get_json(client, base_url, &format!("/api/workflows/{id}")).await?;
        gets += 1;
        match workflow["status"].as_str().unwrap_or_default() {
            "completed" => return Ok(gets),
            status @ ("failed" | "cancelled") => bail!("workflow {id} is {status}"),
            _ => {}
        }
        if Instant::now() >= deadline {
            bail!("workflow {id} did not complete within {limit:?}");
        }
        tokio::time::sleep(poll).await;
    }
}

/// One page (at most `limit`) of the workflows in `status`, newest first, with their tasks.
pub async fn page(
    client: &Client,
    base_url: &str,
    status: &str,
    limit: u32,
    cursor: Option<&str>,
) -> anyhow::Result<Value> {
    let mut path = format!("/api/workflows?status={status}&limit={limit}");
    if let Some(cursor) = cursor {
        path.push_str("&cursor=");
        path.push_str(cursor);
    }
    app::get_json(client, base_url, &path).await
}

/// Whether any workflow is still running (one page of one workflow).
pub async fn any_running(client: &Client, base_url: &str) -> anyhow::Result<bool> {
    let page = page(client, base_url, "running", 1, None).await?;
    Ok(page["data"].as_array().is_some_and(|data| !data.is_empty()))
}

/// The first and last `finished_at` of the completed workflows, read page by page; fails
/// unless exactly `expected` workflows completed.
pub async fn finished_span(
    client: &Client,
    base_url: &str,
    expected: usize,
) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let mut completed = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = page(client, base_url, "completed", 100, cursor.as_deref()).await?;
        for workflow in page["data"].as_array().into_iter().flatten() {
            let at = app::timestamp(workflow, "finished_at")?;
            completed += 1;
            span = Some(span.map_or((at, at), |(first, last)| (first.min(at), last.max(at))));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    if completed != expected {
        bail!("{completed} of {expected} backlog workflows completed (the rest failed?)");
    }
    span.context("no workflow has finished")
}

/// The fewest statements one `call` cost the store over `tries` calls: the app's own
/// background (an idle claim) only ever adds to a call's count.
pub async fn statements_per_call<F, Fut>(
    store: &Store,
    tries: usize,
    mut call: F,
) -> anyhow::Result<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut fewest = u64::MAX;
    for _ in 0..tries.max(1) {
        let before = store.statements_executed();
        call().await?;
        fewest = fewest.min(store.statements_executed() - before);
    }
    Ok(fewest)
}
