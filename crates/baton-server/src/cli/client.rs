//! The HTTP client of the CLI: `BATON_URL` and `BATON_TOKEN`, a timeout on every call, and API
//! errors turned into [`CliError::Api`] with their code and message.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::error::CliError;

/// Where the CLI looks for a server when `BATON_URL` is not set (the default `BATON_BIND`).
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// Connecting to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole request and its answer (not the event stream).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one Baton server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of `url` sending `token` (an access token or an API key) when given.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, CliError> {
        let base = url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|err| CliError::Input(format!("BATON_URL {url:?} is not a URL: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::Input(format!(
                "BATON_URL {url:?} must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("baton-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| CliError::Other(format!("cannot build the HTTP client: {err}")))?;
        Ok(Self {
            http,
            base,
            token: token.filter(|t| !t.trim().is_empty()),
        })
    }

    /// A request to `path` (`/api/...`) with the credentials, without a timeout yet.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token.trim()),
            None => request,
        }
    }

    /// Sends a request and reads its JSON answer (`Null` for an empty one, e.g. 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let mut request = self.request(method, path).timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|err| self.unreachable(err))?;
        let response = check(response).await?;
        let text = response.text().await.map_err(|err| self.unreachable(err))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|err| {
            CliError::Other(format!("the server answered something not JSON: {err}"))
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        self.call(Method::POST, path, body).await
    }

    /// Opens the event stream of a workflow after `last_event_id`; no overall timeout (the
    /// caller times out an idle stream).
    pub async fn events(
        &self,
        workflow_id: &str,
        last_event_id: Option<i64>,
    ) -> Result<Response, CliError> {
        let mut request = self
            .request(Method::GET, &format!("/api/workflows/{workflow_id}/events"))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        // Connecting and the response head still have a bound.
        let response = tokio::time::timeout(REQUEST_TIMEOUT, request.send())
            .await
            .map_err(|_| CliError::Unreachable {
                url: self.base.clone(),
                cause: "no answer in time".into(),
            })?
            .map_err(|err| self.unreachable(err))?;
        check(response).await
    }

    fn unreachable(&self, err: reqwest::Error) -> CliError {
        let mut cause = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(inner) = source {
            cause = format!("{cause}: {inner}");
            source = inner.source();
        }
        CliError::Unreachable {
            url: self.base.clone(),
            cause,
        }
    }
}

/// The response when it succeeded; otherwise the API's error (its code and message).
async fn check(response: Response) -> Result<Response, CliError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    Err(api_error(status, &text))
}

fn api_error(status: StatusCode, text: &str) -> CliError {
    let body: Option<Value> = serde_json::from_str(text).ok();
    let field = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let message = field("error").unwrap_or_else(|| {
        let text = text.trim();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("no message").to_owned()
        } else {
            text.chars().take(500).collect()
        }
    });
    CliError::Api {
        status: status.as_u16(),
        code: field("code").unwrap_or_else(|| format!("HTTP_{}", status.as_u16())),
        message,
        details: body.and_then(|b| b.get("details").cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_keep_the_code_and_message_of_the_error_format() {
        let err = api_error(
            StatusCode::CONFLICT,
            r#"{"error":"the workflow is completed","code":"CONFLICT"}"#,
        );
        assert_eq!(err.to_string(), "CONFLICT: the workflow is completed");
        let err = api_error(StatusCode::BAD_GATEWAY, "upstream down");
        assert_eq!(err.to_string(), "HTTP_502: upstream down");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(Client::new("http://127.0.0.1:8080/", None).is_ok());
        assert!(matches!(
            Client::new("ftp://x", None),
            Err(CliError::Input(_))
        ));
        assert!(matches!(
            Client::new("not a url", None),
            Err(CliError::Input(_))
        ));
    }
}
