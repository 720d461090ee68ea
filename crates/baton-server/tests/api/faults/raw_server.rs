//! A misbehaving HTTP server on a raw socket (127.0.0.1), for what wiremock cannot do: never
//! answer, or answer a body that never ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy)]
pub enum Misbehaviour {
    /// Reads the request, then says nothing while keeping the connection open.
    Silent,
    /// Answers 200 with a body that never ends (written as fast as the client reads).
    Endless,
    /// Answers 500 with a body that never ends.
    EndlessError,
}

pub struct RawServer {
    pub url: String,
    requests: Arc<AtomicUsize>,
    written: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    pub async fn start(how: Misbehaviour) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let (counted, sent) = (requests.clone(), written.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (counted, sent) = (counted.clone(), sent.clone());
                // Ends when the client goes away.
                tokio::spawn(async move { serve(&mut socket, how, &counted, &sent).await });
            }
        });
        RawServer {
            url,
            requests,
            written,
            task,
        }
    }

    /// Body bytes the clients have taken so far (written into their sockets).
    pub fn body_bytes_written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Requests whose head was read.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    socket: &mut TcpStream,
    how: Misbehaviour,
    counted: &AtomicUsize,
    written: &AtomicU64,
) -> Option<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    counted.fetch_add(1, Ordering::SeqCst);
    match how {
        Misbehaviour::Silent => {
            // Hold the connection until the client gives up.
            while socket.read(&mut buf).await.ok()? > 0 {}
            None
        }
        Misbehaviour::Endless | Misbehaviour::EndlessError => {
            let head: &[u8] = match how {
                Misbehaviour::EndlessError => {
                    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
                }
                _ => b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n",
            };
            socket.write_all(head).await.ok()?;
            let chunk = vec![b'x'; 64 * 1024];
            loop {
                socket.write_all(&chunk).await.ok()?;
                written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
    }
}
