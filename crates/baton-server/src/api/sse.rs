//! Server-Sent Events responses: a channel of frames streamed as `text/event-stream`.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_ENCODING, ContentEncoding};
use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

/// One SSE frame with an id, an event type and JSON data (on one line).
pub fn frame(id: i64, event: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("id: {id}\nevent: {event}\ndata: {data}\n\n"))
}

/// A `data:`-only frame.
pub fn data(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// A streaming SSE response; the body ends when the stream does. Never compressed (that would
/// buffer it) nor cached.
pub fn response<S>(body: S) -> HttpResponse
where
    S: Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
{
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header((CONTENT_ENCODING, ContentEncoding::Identity))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// The frames sent on `rx`, as a response body; dropping the body (client gone) closes `rx`.
pub fn channel_body(
    rx: mpsc::Receiver<Bytes>,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (Ok(frame), rx))
    })
}
