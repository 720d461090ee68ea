//! A loopback HTTP server that answers every request with `{}` after a fixed delay: the
//! memory phase's fetch tasks call it, so that each holds a worker for that long (a `sleep`
//! task would park and free its worker). It counts the requests waiting and those answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// The most of a request read (a fetch task's GET is a few hundred bytes).
const MAX_REQUEST_BYTES: usize = 64 * 1024;
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          content-length: 2\r\nconnection: close\r\n\r\n{}";

#[derive(Default)]
struct Counts {
    waiting: AtomicUsize,
    answered: AtomicU64,
}

/// The running server; it stops (every connection dropped) when this is dropped.
pub struct SlowServer {
    pub url: String,
    counts: Arc<Counts>,
    accepting: JoinHandle<()>,
}

impl SlowServer {
    /// Listens on a free loopback port.
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1")?;
        let url = format!("http://{}/", listener.local_addr()?);
        let counts = Arc::new(Counts::default());
        let accepting = tokio::spawn(accept(listener, delay, counts.clone()));
        Ok(Self {
            url,
            counts,
            accepting,
        })
    }

    /// Requests received and not answered yet: the fetch tasks running now.
    pub fn waiting(&self) -> usize {
        self.counts.waiting.load(Ordering::Relaxed)
    }

    pub fn answered(&self) -> u64 {
        self.counts.answered.load(Ordering::Relaxed)
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, delay: Duration, counts: Arc<Counts>) {
    // Owned here: aborting this task drops every connection.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or the like: try again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        connections.spawn(answer(stream, delay, counts.clone()));
    }
}

/// Reads the request's head, waits `delay`, answers and closes.
async fn answer(mut stream: TcpStream, delay: Duration, counts: Arc<Counts>) {
    let mut request = Vec::with_capacity(1024);
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
        if request.len() > MAX_REQUEST_BYTES {
            return;
        }
    }
    counts.waiting.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(delay).await;
    counts.waiting.fetch_sub(1, Ordering::Relaxed);
    // Counted before the write, so a client that has the answer sees it counted.
    counts.answered.fetch_add(1, Ordering::Relaxed);
    if stream.write_all(RESPONSE).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_after_the_delay() {
        let server = SlowServer::start(Duration::from_millis(50)).await.unwrap();
        let started = std::time::Instant::now();
        let body = reqwest::get(&server.url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "{}");
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!((server.waiting(), server.answered()), (0, 1));
    }
}
