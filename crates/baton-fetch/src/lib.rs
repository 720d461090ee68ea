#![doc = include_str!("../README.md")]

pub mod guard;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use baton_domain::ports::HttpFetcher;
use baton_domain::{FetchRequest, FetchResponse, TaskError, parse_retry_after};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Client, Method, Url, redirect};
use serde_json::Value;

use crate::guard::{GuardedResolver, check_url, find_blocked};

/// The most of a response body that is read.
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// Redirects followed at most (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// Makes fetch tasks' HTTP calls with one shared connection pool.
#[derive(Clone)]
pub struct ReqwestFetcher {
    client: Client,
    guarded: bool,
}

impl ReqwestFetcher {
    /// A fetcher refusing private destinations ([`guard`]) unless `allow_private`.
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: Self::builder(allow_private).build()?,
            guarded: !allow_private,
        })
    }

    fn builder(allow_private: bool) -> reqwest::ClientBuilder {
        let mut builder = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder
                .dns_resolver(GuardedResolver)
                // A proxy would resolve names itself, out of the guard's sight.
                .no_proxy()
                .redirect(redirect::Policy::custom(|attempt| {
                    if attempt.previous().len() >= MAX_REDIRECTS {
                        attempt.error("too many redirects")
                    } else if let Err(blocked) = check_url(attempt.url()) {
                        attempt.error(blocked)
                    } else {
                        attempt.follow()
                    }
                }));
        }
        builder
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, chrono::Utc::now())
}

fn flatten(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

fn network_error(url: &str, err: &reqwest::Error) -> TaskError {
    if let Some(blocked) = find_blocked(err) {
        TaskError::permanent("blocked", blocked.to_string())
    } else if err.is_timeout() {
        TaskError::retryable("timeout", format!("{url} did not answer in time"))
    } else if err.is_builder() {
        TaskError::permanent("invalid_input", format!("cannot call {url}: {err}"))
    } else {
        let mut message = format!("cannot reach {url}: {err}");
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        TaskError::retryable("network", message)
    }
}

#[async_trait]
impl HttpFetcher for ReqwestFetcher {
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, TaskError> {
        let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            TaskError::permanent(
                "invalid_input",
                format!("{:?} is not an HTTP method", request.method),
            )
        })?;
        if self.guarded
            && let Ok(url) = Url::parse(&request.url)
            && let Err(blocked) = check_url(&url)
        {
            return Err(TaskError::permanent("blocked", blocked.to_string()));
        }
        let mut builder = self
            .client
            .request(method, &request.url)
            .timeout(request.timeout)
            .header("Idempotency-Key", &request.idempotency_key);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder = match request.body {
            None => builder,
            Some(Value::String(text)) => builder.body(text),
            Some(json) => builder.json(&json),
        };
        let mut response = builder
            .send()
            .await
            .map_err(|e| network_error(&request.url, &e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| network_error(&request.url, &e))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                // Permanent: the same answer would be refused again.
                return Err(TaskError::permanent(
                    "output_too_large",
                    format!(
                        "{} answered more than {MAX_RESPONSE_BYTES} bytes",
                        request.url
                    ),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        let is_json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let body = if is_json {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        Ok(FetchResponse {
            status,
            retry_after: retry_after(&headers),
            headers: flatten(&headers),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn get(url: String) -> FetchRequest {
        FetchRequest {
            url,
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(5),
            idempotency_key: "k".into(),
        }
    }

    /// Redirects are checked at every hop. The first hop's name is pinned to the local test
    /// server (as if it were a public host), so that only the redirect can be refused. Only
    /// loopback targets are used: a broken guard must not send traffic anywhere else.
    #[tokio::test]
    async fn redirects_to_refused_addresses_are_not_followed() {
        let server = MockServer::start().await;
        let port = server.address().port();
        for (hop, target) in [
            ("/to-literal", format!("http://127.0.0.1:{port}/secret")),
            ("/to-name", format!("http://localhost:{port}/secret")),
        ] {
            Mock::given(path(hop))
                .respond_with(ResponseTemplate::new(302).insert_header("Location", target.as_str()))
                .mount(&server)
                .await;
        }
        Mock::given(path("/secret"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let client = ReqwestFetcher::builder(false)
            .resolve("public.test", *server.address())
            .build()
            .unwrap();
        let fetcher = ReqwestFetcher {
            client,
            guarded: true,
        };
        for (hop, address) in [
            ("/to-literal", "127.0.0.1"),
            ("/to-name", "localhost resolves to"),
        ] {
            let err = fetcher
                .fetch(get(format!("http://public.test:{port}{hop}")))
                .await
                .unwrap_err();
            assert_eq!(err.kind, "blocked", "{hop}: {err:?}");
            assert!(!err.retryable);
            assert!(err.message.contains(address), "{hop}: {}", err.message);
        }
    }

    #[tokio::test]
    async fn without_the_guard_loopback_is_reachable() {
        let server = MockServer::start().await;
        Mock::given(path("/ok"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let fetcher = ReqwestFetcher::new(true).unwrap();
        let response = fetcher
            .fetch(get(format!("{}/ok", server.uri())))
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        let guarded = ReqwestFetcher::new(false).unwrap();
        let err = guarded
            .fetch(get(format!("{}/ok", server.uri())))
            .await
            .unwrap_err();
        assert_eq!(err.kind, "blocked");
    }
}
