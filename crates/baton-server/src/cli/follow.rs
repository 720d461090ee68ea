//! Following a workflow's event stream to its end, reconnecting with `Last-Event-ID` when the
//! connection drops (a server restarting, an idle proxy), so no event is missed or seen twice.

use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::Client;
use super::error::CliError;

/// The server sends a keep-alive every 15 s: a stream silent for longer is dead.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// How long to keep trying to reconnect without reaching the server.
pub const RECONNECT_FOR: Duration = Duration::from_secs(120);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(3);

/// One event of the stream.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

impl StreamEvent {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.event.as_str(),
            "workflow.completed" | "workflow.failed" | "workflow.cancelled"
        )
    }
}

/// Why the stream was left before its terminal event.
enum Interrupted {
    /// Reconnect after the last event seen.
    Dropped(String),
    /// Give up.
    Fatal(CliError),
}

/// What the follower reports, in order.
#[derive(Debug)]
pub enum Update {
    Event(StreamEvent),
    /// The connection was lost (why); it is being resumed.
    Reconnecting(String),
}

/// Sends each event after `last_event_id` to `updates` until the terminal event (sent too),
/// which it returns. Stops early (with an error) when `updates` is closed.
pub async fn follow(
    client: &Client,
    workflow_id: &str,
    mut last_event_id: Option<i64>,
    updates: mpsc::Sender<Update>,
) -> Result<StreamEvent, CliError> {
    let mut backoff = FIRST_BACKOFF;
    let mut last_contact = Instant::now();
    loop {
        let outcome = match client.events(workflow_id, last_event_id).await {
            Ok(response) => {
                last_contact = Instant::now();
                backoff = FIRST_BACKOFF;
                read(response, &mut last_event_id, &updates).await
            }
            Err(err) if err.is_transient() => Err(Interrupted::Dropped(err.to_string())),
            Err(err) => Err(Interrupted::Fatal(err)),
        };
        match outcome {
            Ok(terminal) => return Ok(terminal),
            Err(Interrupted::Fatal(err)) => return Err(err),
            Err(Interrupted::Dropped(why)) => {
                if last_contact.elapsed() > RECONNECT_FOR {
                    return Err(CliError::Unreachable {
                        url: format!("the events of {workflow_id}"),
                        cause: format!("gave up after {RECONNECT_FOR:?}: {why}"),
                    });
                }
                if updates.send(Update::Reconnecting(why)).await.is_err() {
                    return Err(gone());
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Reads one connection's events; `Ok` with the terminal event, else why it stopped.
async fn read(
    response: reqwest::Response,
    last_event_id: &mut Option<i64>,
    updates: &mpsc::Sender<Update>,
) -> Result<StreamEvent, Interrupted> {
    let mut events = idle_bounded(response.bytes_stream()).eventsource();
    while let Some(item) = events.next().await {
        let raw = item.map_err(|err| Interrupted::Dropped(err.to_string()))?;
        let Ok(id) = raw.id.trim().parse::<i64>() else {
            // Not one of the workflow's events (e.g. an error frame): nothing to resume from.
            continue;
        };
        let data = serde_json::from_str(&raw.data).unwrap_or(Value::String(raw.data));
        let event = StreamEvent {
            id,
            event: raw.event,
            data,
        };
        *last_event_id = Some(id);
        let terminal = event.is_terminal().then(|| event.clone());
        if updates.send(Update::Event(event)).await.is_err() {
            return Err(Interrupted::Fatal(gone()));
        }
        if let Some(event) = terminal {
            return Ok(event);
        }
    }
    Err(Interrupted::Dropped(
        "the event stream ended before the workflow did".into(),
    ))
}

fn gone() -> CliError {
    CliError::Other("stopped following: nobody reads the events".into())
}

/// The body's chunks, ending with an error when none (not even a keep-alive) comes within
/// [`IDLE_TIMEOUT`].
fn idle_bounded(
    body: impl Stream<Item = reqwest::Result<Bytes>> + Unpin,
) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
    Box::pin(futures_util::stream::unfold(
        (body, false),
        |(mut body, done)| async move {
            if done {
                return None;
            }
            match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), (body, false))),
                Ok(Some(Err(err))) => Some((Err(err.to_string()), (body, true))),
                Ok(None) => None,
                Err(_) => Some((Err(format!("no data for {IDLE_TIMEOUT:?}")), (body, true))),
            }
        },
    ))
}
