//! `Idempotency-Key` on POST (DESIGN.md §5), for every authenticated POST under `/api` except
//! the login (which creates nothing, and whose answer is a credential not to be stored).
//!
//! - The first request under a key runs; a successful (2xx) answer is stored with its status,
//!   body and `Content-Type`/`Location`/`ETag`, and replayed to later requests under the key,
//!   with `Idempotent-Replayed: true`. A failed answer is not stored: the key is freed, so the
//!   client can fix the request and retry under the same key.
//! - A request that differs (method, path, query or body) from the first under the key → 422.
//! - A duplicate arriving while the first is still running waits for it (up to
//!   `BATON_IDEMPOTENCY_WAIT_MS`, 10 s by default) and then replays its answer; only when the
//!   first is still running after that wait does it get 409. Waiting, rather than answering 409
//!   at once, means that a client firing the same request several times concurrently (a retry
//!   racing a slow original) gets one consistent answer everywhere.
//! - Keys are scoped per principal and kept 24 h.
//! - A response that must not be replayed in full (it shows a secret once, like a new API key)
//!   carries a [`ReplayBody`] extension: that is what gets stored and replayed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpMessage, HttpResponse};
use baton_domain::ports::IdempotencyStore;
use baton_domain::{Begun, IdempotencyKey, StoredResponse};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::authn::Identity;
use crate::api::AppState;
use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// POSTs that never use idempotency keys.
const EXEMPT: &[&str] = &["/api/auth/login"];

/// How often a waiting duplicate looks again.
const POLL: Duration = Duration::from_millis(50);

/// The headers a replay repeats.
const REPLAYED_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// Set on a response whose replay must show less than the original: the body to store instead.
#[derive(Debug, Clone)]
pub struct ReplayBody(pub Bytes);

/// The idempotency layer's settings and store.
pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    wait: Duration,
    max_body: usize,
    last_purge: AtomicI64,
}

impl Idempotency {
    pub fn new(store: Arc<dyn IdempotencyStore>, wait: Duration, max_body: usize) -> Self {
        Self {
            store,
            wait,
            max_body,
            last_purge: AtomicI64::new(0),
        }
    }

    /// Deletes expired keys at most once an hour per process, in the background.
    fn purge_now_and_then(&self) {
        let now = chrono::Utc::now().timestamp();
        let last = self.last_purge.load(Ordering::Relaxed);
        if now - last < 3_600
            || self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            match store.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "deleted expired idempotency keys"),
                Err(err) => tracing::warn!(error = %err, "cannot delete expired idempotency keys"),
            }
        });
    }
}

/// SHA-256 of what makes two requests "the same": method, path with query, body.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path_and_query.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().into()
}

/// Frees the key if the request ends without recording an answer (error, panic, client gone).
struct Held {
    store: Arc<dyn IdempotencyStore>,
    key: Option<IdempotencyKey>,
}

impl Held {
    async fn release(mut self) {
        if let Some(key) = self.key.take()
            && let Err(err) = self.store.release(&key).await
        {
            tracing::warn!(error = %err, "cannot free an idempotency key");
        }
    }

    async fn complete(mut self, response: &StoredResponse) {
        if let Some(key) = self.key.take()
            && let Err(err) = self.store.complete(&key, response).await
        {
            tracing::error!(error = %err, "cannot record the response of an idempotency key");
            // Free it rather than leave it in flight: a retry will run again.
            let _ = self.store.release(&key).await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(key) = self.key.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            runtime.spawn(async move {
                let _ = store.release(&key).await;
            });
        }
    }
}

async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<Bytes, ApiError> {
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("unreadable body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "the request body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
    response.body(stored.body)
}

/// Whether this request takes part: an authenticated POST under /api with a key.
fn applies(req: &ServiceRequest) -> bool {
    req.method() == Method::POST
        && req.path().starts_with("/api/")
        && !EXEMPT.contains(&req.path())
        && req.headers().contains_key(IDEMPOTENCY_KEY)
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let principal = req
        .extensions()
        .get::<Identity>()
        .and_then(Identity::principal);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(principal), Some(state)) = (principal, state) else {
        // Without credentials the handler answers 401; nothing to remember.
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if !applies(&req) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let layer = &state.idempotency;
    let raw = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let key = match IdempotencyKey::new(principal.user, raw) {
        Ok(key) => key,
        Err(_) => {
            return Ok(req.error_response(ApiError::bad_request(
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
            )));
        }
    };
    let body = match read_body(&mut req, layer.max_body).await {
        Ok(body) => body,
        Err(err) => return Ok(req.error_response(err)),
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |p| p.as_str().to_owned());
    let print = fingerprint(req.method().as_str(), &path, &body);
    req.set_payload(Payload::from(body));

    let deadline = tokio::time::Instant::now() + layer.wait;
    loop {
        match layer.store.begin(&key, &print).await {
            Ok(Begun::Started) => break,
            Ok(Begun::Completed(stored)) => {
                return Ok(req.into_response(replay(stored)));
            }
            Ok(Begun::Mismatch) => {
                return Ok(req.error_response(ApiError::Unprocessable {
                    message: "this Idempotency-Key was already used for a different request; \
                              use a new key for a new request"
                        .into(),
                    details: None,
                }));
            }
            Ok(Begun::InFlight) if tokio::time::Instant::now() >= deadline => {
                return Ok(req.error_response(ApiError::Conflict {
                    message: "a request with this Idempotency-Key is still in progress; \
                              retry later"
                        .into(),
                    details: None,
                }));
            }
            Ok(Begun::InFlight) => tokio::time::sleep(POLL).await,
            Err(err) => return Ok(req.error_response(ApiError::from(err))),
        }
    }
    layer.purge_now_and_then();
    let held = Held {
        store: layer.store.clone(),
        key: Some(key),
    };
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(err) => {
            held.release().await;
            return Err(err);
        }
    };
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if !response.status().is_success() || streaming {
        held.release().await;
        return Ok(response.map_into_boxed_body());
    }
    let (req, response) = response.into_parts();
    let replay_body = response.extensions().get::<ReplayBody>().cloned();
    let (head, body) = response.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(err) => {
            held.release().await;
            return Err(ApiError::Internal(anyhow::anyhow!(
                "cannot read the response body: {}",
                err.into()
            ))
            .into());
        }
    };
    let stored = StoredResponse {
        status: head.status().as_u16(),
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = head.headers().get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect(),
        body: replay_body.map_or_else(|| bytes.to_vec(), |b| b.0.to_vec()),
    };
    held.complete(&stored).await;
    Ok(ServiceResponse::new(req, head.set_body(bytes)).map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = fingerprint("POST", "/api/workflows", b"{}");
        assert_eq!(a, fingerprint("POST", "/api/workflows", b"{}"));
        assert_ne!(a, fingerprint("POST", "/api/workflows", b"{ }"));
        assert_ne!(a, fingerprint("POST", "/api/tasks", b"{}"));
        assert_ne!(a, fingerprint("POST", "/api/workflows?x=1", b"{}"));
    }
}
