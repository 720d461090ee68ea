//! A fake OpenAI-compatible chat completions server: real HTTP on 127.0.0.1, the real chunked SSE
//! wire format (`data:` chunks, a usage chunk, `[DONE]`), error bodies, and scripted misbehaviour
//! (rate limits, stalls, streams cut midway).

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use serde_json::{Value, json};

/// What the fake does with the next request.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answers with these tokens (streamed one per chunk, `delay` apart, when asked to stream).
    Reply {
        tokens: Vec<String>,
        delay: Duration,
    },
    /// Answers `status` with an OpenAI error body and extra headers.
    Error {
        status: u16,
        message: String,
        headers: Vec<(String, String)>,
    },
    /// Streams `tokens`, then sends nothing more while keeping the connection open.
    Stall { tokens: Vec<String> },
    /// Streams `tokens`, then breaks the connection without `[DONE]`.
    Cut { tokens: Vec<String> },
    /// Answers with a content-filter refusal.
    Refuse,
    /// Streams these bytes as they are, one frame per chunk (malformed chunks, odd bytes), then
    /// ends the response.
    Raw { frames: Vec<Vec<u8>> },
}

impl Script {
    pub fn reply(tokens: &[&str]) -> Self {
        Self::Reply {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            delay: Duration::from_millis(10),
        }
    }

    pub fn slow(tokens: &[&str], delay: Duration) -> Self {
        Self::Reply {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            delay,
        }
    }

    pub fn error(status: u16, message: &str) -> Self {
        Self::Error {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::Error {
            status: 429,
            message: "Rate limit reached for requests".into(),
            headers: vec![("retry-after".into(), retry_after_secs.to_string())],
        }
    }
}

#[derive(Default)]
struct State {
    scripts: VecDeque<Script>,
    requests: Vec<Value>,
    arrivals: Vec<std::time::Instant>,
    /// Streams whose client went away before the end.
    abandoned: usize,
    /// Chunks sent, over all streams.
    chunks_sent: usize,
    /// The prompt and completion tokens of every usage chunk or body answered.
    usage_sent: (u64, u64),
}

/// The fake server; stops when dropped.
pub struct FakeLlm {
    /// `http://127.0.0.1:<port>/v1`: use as `BATON_LLM_BASE_URL`.
    pub base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

pub const DEFAULT_TOKENS: [&str; 3] = ["Hello", ", ", "world"];

impl FakeLlm {
    pub async fn start() -> FakeLlm {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake LLM");
        let port = listener.local_addr().expect("its port").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .app_data(web::JsonConfig::default().limit(16 * 1024 * 1024))
                .route("/v1/chat/completions", web::post().to(completions))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeLlm {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            state,
            handle,
        }
    }

    /// Queues what to do with the next requests, in order (then the default reply).
    pub fn script(&self, scripts: impl IntoIterator<Item = Script>) {
        self.state.lock().unwrap().scripts.extend(scripts);
    }

    /// The JSON bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }

    /// When each request arrived.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.state.lock().unwrap().arrivals.clone()
    }

    /// Streams whose client disconnected before the end.
    pub fn abandoned_streams(&self) -> usize {
        self.state.lock().unwrap().abandoned
    }

    /// The prompt and completion tokens the answers' usage reported, summed.
    pub fn usage_sent(&self) -> (u64, u64) {
        self.state.lock().unwrap().usage_sent
    }

    pub fn chunks_sent(&self) -> usize {
        self.state.lock().unwrap().chunks_sent
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn chunk(model: &str, delta: Value, finish_reason: Value) -> Bytes {
    let body = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    Bytes::from(format!("data: {body}\n\n"))
}

/// Counts chunks, and notes a stream dropped before its end.
struct Stream {
    state: Arc<Mutex<State>>,
    frames: VecDeque<(Duration, Bytes)>,
    then: After,
    finished: bool,
}

enum After {
    End,
    Stall,
    Cut,
}

impl Stream {
    fn mark_finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !self.finished {
            self.state.lock().unwrap().abandoned += 1;
        }
    }
}

fn stream_body(
    state: Arc<Mutex<State>>,
    frames: VecDeque<(Duration, Bytes)>,
    then: After,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    let stream = Stream {
        state,
        frames,
        then,
        finished: false,
    };
    futures_util::stream::unfold(stream, |mut s| async move {
        if let Some((delay, frame)) = s.frames.pop_front() {
            tokio::time::sleep(delay).await;
            s.state.lock().unwrap().chunks_sent += 1;
            return Some((Ok(frame), s));
        }
        match s.then {
            After::End => {
                s.mark_finished();
                None
            }
            After::Stall => {
                std::future::pending::<()>().await;
                None
            }
            After::Cut => {
                // Let the chunks already written reach the client, then break the connection.
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.mark_finished();
                s.then = After::End;
                Some((Err(actix_web::error::ErrorInternalServerError("cut")), s))
            }
        }
    })
}

async fn completions(state: web::Data<Arc<Mutex<State>>>, body: web::Json<Value>) -> HttpResponse {
    let body = body.into_inner();
    let script = {
        let mut s = state.lock().unwrap();
        s.requests.push(body.clone());
        s.arrivals.push(std::time::Instant::now());
        s.scripts.pop_front()
    }
    .unwrap_or_else(|| Script::reply(&DEFAULT_TOKENS));
    let model = body["model"].as_str().unwrap_or("fake-model").to_owned();
    let streaming = body["stream"].as_bool().unwrap_or(false);
    let (tokens, delay, then) = match script {
        Script::Error {
            status,
            message,
            headers,
        } => {
            let mut response =
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
            for (name, value) in headers {
                response.insert_header((name, value));
            }
            return response.json(json!({
                "error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}
            }));
        }
        Script::Refuse => {
            if !streaming {
                return HttpResponse::Ok().json(json!({
                    "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "content_filter"}],
                }));
            }
            let frames = VecDeque::from([
                (
                    Duration::ZERO,
                    chunk(&model, json!({}), json!("content_filter")),
                ),
                (Duration::ZERO, Bytes::from_static(b"data: [DONE]\n\n")),
            ]);
            return sse(stream_body(state.get_ref().clone(), frames, After::End));
        }
        Script::Raw { frames } => {
            let frames = frames
                .into_iter()
                .map(|frame| (Duration::ZERO, Bytes::from(frame)))
                .collect();
            return sse(stream_body(state.get_ref().clone(), frames, After::End));
        }
        Script::Reply { tokens, delay } => (tokens, delay, After::End),
        Script::Stall { tokens } => (tokens, Duration::from_millis(10), After::Stall),
        Script::Cut { tokens } => (tokens, Duration::from_millis(10), After::Cut),
    };
    let prompt_tokens = body["messages"]
        .as_array()
        .map_or(0, |m| m.len() as u64 * 4);
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": tokens.len(),
        "total_tokens": prompt_tokens + tokens.len() as u64,
    });
    if !streaming || matches!(then, After::End) {
        let mut s = state.lock().unwrap();
        s.usage_sent.0 += prompt_tokens;
        s.usage_sent.1 += tokens.len() as u64;
    }
    if !streaming {
        return HttpResponse::Ok().json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": tokens.concat()}, "finish_reason": "stop"}],
            "usage": usage,
        }));
    }
    let mut frames: VecDeque<(Duration, Bytes)> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let delta = if i == 0 {
                json!({"role": "assistant", "content": token})
            } else {
                json!({"content": token})
            };
            (delay, chunk(&model, delta, Value::Null))
        })
        .collect();
    if matches!(then, After::End) {
        frames.push_back((Duration::ZERO, chunk(&model, json!({}), json!("stop"))));
        let usage_chunk = json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [], "usage": usage,
        });
        frames.push_back((
            Duration::ZERO,
            Bytes::from(format!("data: {usage_chunk}\n\n")),
        ));
        frames.push_back((Duration::ZERO, Bytes::from_static(b"data: [DONE]\n\n")));
    }
    sse(stream_body(state.get_ref().clone(), frames, then))
}

fn sse(
    body: impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}
