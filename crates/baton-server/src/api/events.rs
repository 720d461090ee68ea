//! `GET /api/workflows/{id}/events`: the workflow's events as Server-Sent Events — history (from
//! `Last-Event-ID` when sent), then live until the terminal event, with keep-alive comments.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use baton_domain::ports::{EventLog, StoreError};
use baton_domain::{Event, WorkflowId};
use baton_engine::Subscription;
use baton_engine::events::PAGE;
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::dto::ErrorBody;
use super::responses::{RateLimited, Unauthorized, Unavailable};
use super::{AppState, Caller, sse};
use crate::error::ApiError;

pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
pub struct EventParams {
    /// Same as the `Last-Event-ID` header, for clients that cannot set headers.
    pub last_event_id: Option<String>,
}

fn last_event_id(req: &HttpRequest, params: &EventParams) -> Result<i64, ApiError> {
    let raw = req
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?").to_owned())
        .or_else(|| params.last_event_id.clone());
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(0),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                ApiError::bad_request("Last-Event-ID must be an event id as sent in `id:`")
            }),
    }
}

/// Follow a workflow's events
///
/// Server-Sent Events: its history, then new events as they happen, until it ends.
#[utoipa::path(
    get, path = "/api/workflows/{id}/events", tag = "workflows", operation_id = "streamWorkflowEvents",
    params(
        ("id" = Uuid, Path, description = "Workflow id"),
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, description = "Resume after this event"),
        ("last_event_id" = Option<i64>, Query, minimum = 0, description = "Same as the header, for clients that cannot set headers"),
        ("access_token" = Option<String>, Query, description = "An access token or API key, for a browser's `EventSource` (which cannot send headers); accepted on this route only"),
    ),
    responses(
        (status = 200, description = "text/event-stream: `id:`, `event:` (workflow.queued, workflow.started, task.started, task.delta, task.retrying, task.completed, task.failed, workflow.completed, workflow.failed, workflow.cancelled) and JSON `data:`; keep-alive comments every 15 s; ends after the terminal event", content_type = "text/event-stream"),
        (status = 400, description = "An id that is not a UUID, or a bad `Last-Event-ID`", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such workflow (or not yours)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    )
)]
pub async fn stream(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    params: web::Query<EventParams>,
) -> Result<HttpResponse, ApiError> {
    let after = last_event_id(&req, &params)?;
    let workflow_id = WorkflowId::from_uuid(*id);
    // Only what the caller may see.
    let finished = state
        .workflows
        .get(caller.scope, workflow_id)
        .await?
        .status
        .is_terminal();
    // Held until the stream ends (its client gone, or the workflow's end sent).
    let slot = state.streams.acquire(caller.user)?;
    let subscription = state.events.subscribe(workflow_id).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let hub = state.events.clone();
    let client = state.metrics.sse_client();
    tokio::spawn(async move {
        let _slot = slot;
        let _client = client;
        let log = hub.log().clone();
        let client = tx.clone();
        tokio::select! {
            result = follow(log, subscription, workflow_id, after, finished, tx) => {
                if let Err(err) = result {
                    tracing::warn!(error = %err, %workflow_id, "event stream stopped");
                }
            }
            // Shutting down: end the stream; the client resumes elsewhere with Last-Event-ID.
            () = hub.closed() => {}
            // The client went away: stop now (freeing its slot), not at the next frame.
            () = client.closed() => {}
        }
    });
    Ok(sse::response(sse::channel_body(rx)))
}

/// Sends history after `cursor`, then live events, until the terminal event or the client leaves.
/// `finished`: the workflow had ended when the client came (a resume past its last event ends at
/// once).
async fn follow(
    log: Arc<dyn EventLog>,
    mut subscription: Subscription,
    workflow_id: WorkflowId,
    mut cursor: i64,
    finished: bool,
    tx: mpsc::Sender<Bytes>,
) -> Result<(), StoreError> {
    let start = cursor;
    if catch_up(&log, workflow_id, &mut cursor, &tx).await? != Flow::Continue
        || (finished && cursor == start)
    {
        return Ok(());
    }
    let mut keep_alive = tokio::time::interval_at(
        tokio::time::Instant::now() + KEEP_ALIVE_EVERY,
        KEEP_ALIVE_EVERY,
    );
    loop {
        tokio::select! {
            received = subscription.events.recv() => match received {
                Ok(event) => {
                    if event.id <= cursor {
                        continue;
                    }
                    if send(&tx, &event).await == Flow::Stop || event.is_terminal() {
                        return Ok(());
                    }
                    cursor = event.id;
                }
                // Too slow for the live feed: read what was missed from the log.
                Err(RecvError::Lagged(_)) => {
                    if catch_up(&log, workflow_id, &mut cursor, &tx).await? != Flow::Continue {
                        return Ok(());
                    }
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = keep_alive.tick() => {
                if tx.send(Bytes::from_static(sse::KEEP_ALIVE)).await.is_err() {
                    return Ok(());
                }
            }
            () = tx.closed() => return Ok(()),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The client left, or the terminal event was sent.
    Stop,
}

async fn send(tx: &mpsc::Sender<Bytes>, event: &Event) -> Flow {
    match tx
        .send(sse::frame(event.id, &event.event_type, &event.data))
        .await
    {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Stop,
    }
}

/// Sends every recorded event after `cursor`. Stops after the last one if it is terminal.
async fn catch_up(
    log: &Arc<dyn EventLog>,
    workflow_id: WorkflowId,
    cursor: &mut i64,
    tx: &mpsc::Sender<Bytes>,
) -> Result<Flow, StoreError> {
    let mut last_terminal = false;
    loop {
        let events = log.events_after(workflow_id, *cursor, PAGE).await?;
        let full = events.len() == PAGE as usize;
        for event in &events {
            if send(tx, event).await == Flow::Stop {
                return Ok(Flow::Stop);
            }
            *cursor = event.id;
            last_terminal = event.is_terminal();
        }
        if !full {
            return Ok(if last_terminal {
                Flow::Stop
            } else {
                Flow::Continue
            });
        }
    }
}
