//! Which provider answers deserve another attempt, and what to tell people.

use std::time::Duration;

use baton_domain::{TaskError, parse_reset_duration, parse_retry_after};
use reqwest::Response;
use reqwest::header::HeaderMap;

use crate::wire::ErrorBody;

/// The longest wait the provider asked for, from `Retry-After` and `x-ratelimit-reset-*`.
fn wait_hint(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = text("retry-after").and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let resets = ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
        .into_iter()
        .filter_map(|name| text(name).and_then(parse_reset_duration));
    retry_after.into_iter().chain(resets).max()
}

/// The most of an error body read: enough for any provider's JSON error, and a hostile answer
/// (huge, or endless) is cut here rather than held in memory.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// At most [`MAX_ERROR_BODY`] bytes of the body, as text (lossy); reading stops there, and at
/// the first transport error.
async fn bounded_text(mut response: Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ERROR_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

pub(crate) async fn from_response(response: Response) -> TaskError {
    let status = response.status().as_u16();
    let retry_after = wait_hint(response.headers());
    let body = bounded_text(response).await;
    let provider = serde_json::from_str::<ErrorBody>(&body)
        .map(|b| match b.error.kind {
            Some(kind) if !kind.is_empty() => format!("{} ({kind})", b.error.message),
            _ => b.error.message,
        })
        .unwrap_or_else(|_| body.chars().take(300).collect());
    let (kind, retryable, what) = match status {
        429 => ("llm_rate_limited", true, "rate-limited the request"),
        408 => ("llm_timeout", true, "timed out"),
        500..=599 => ("llm_unavailable", true, "is unavailable or overloaded"),
        400 | 422 => ("llm_bad_request", false, "rejected the request as invalid"),
        401 | 403 => (
            "llm_auth",
            false,
            "rejected Baton's credentials (check BATON_LLM_API_KEY)",
        ),
        404 => (
            "llm_not_found",
            false,
            "does not know this model or endpoint (check BATON_LLM_MODEL and BATON_LLM_BASE_URL)",
        ),
        _ => ("llm", false, "refused the request"),
    };
    TaskError {
        kind,
        message: format!("the model provider {what} (HTTP {status}): {provider}"),
        retryable,
        status: Some(status),
        retry_after,
        detail: None,
    }
}

pub(crate) fn from_transport(err: &reqwest::Error) -> TaskError {
    if err.is_timeout() {
        return TaskError::retryable("timeout", "the model provider did not answer in time");
    }
    let mut message = format!("cannot reach the model provider: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    TaskError::retryable("network", message)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn the_longest_hint_wins() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("1"));
        headers.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("6m0s"));
        assert_eq!(wait_hint(&headers), Some(Duration::from_secs(360)));
        assert_eq!(wait_hint(&HeaderMap::new()), None);
    }
}
