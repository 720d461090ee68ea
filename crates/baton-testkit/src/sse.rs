//! A Server-Sent Events client for tests, over a real HTTP response.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use reqwest::Response;
use serde_json::Value;

/// One received event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
    /// The raw `data:` text.
    pub raw: String,
}

/// The events of an SSE response, in order.
pub fn events(response: Response) -> impl Stream<Item = SseEvent> + Unpin {
    Box::pin(response.bytes_stream().eventsource().filter_map(|item| {
        std::future::ready(item.ok().map(|event| SseEvent {
            id: event.id.parse().ok(),
            event: event.event,
            data: serde_json::from_str(&event.data).unwrap_or(Value::Null),
            raw: event.data,
        }))
    }))
}

/// Every event until the server ends the stream (failing after `timeout`).
pub async fn collect(response: Response, timeout: Duration) -> Vec<SseEvent> {
    assert_eq!(response.status(), 200, "an SSE stream");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    tokio::time::timeout(timeout, events(response).collect::<Vec<_>>())
        .await
        .expect("the stream ended in time")
}
