//! Typed configuration, read once from the environment (and `.env`) at startup.
//!
//! Every variable is parsed and checked here; a bad value stops the process with a message that
//! names the variable and says what is wrong. Secrets are held in `secrecy` types and never logged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::store_location::StoreLocation;
use baton_domain::{Email, Password};
use baton_engine::{DEFAULT_COMMIT_BATCH, DEFAULT_TRANSFORM_TIMEOUT, LlmPolicy, SecretsKey};
use baton_llm::ResponseFormat;
use secrecy::SecretString;

/// A variable that is set but wrong.
#[derive(Debug, thiserror::Error)]
#[error("configuration variable {name} is invalid: {message} (got {value:?})")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub message: String,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err("must be pretty or json".into()),
        }
    }
}

/// Where the language model is: set when `BATON_LLM_BASE_URL` or an API key is given.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// `BATON_LLM_BASE_URL` (https://api.openai.com/v1).
    pub base_url: String,
    /// `BATON_LLM_API_KEY`, else `OPENAI_API_KEY`.
    pub api_key: Option<SecretString>,
    /// `BATON_LLM_MODEL` (gpt-4o-mini).
    pub model: String,
    /// `BATON_LLM_CONNECT_TIMEOUT_MS` (10000).
    pub connect_timeout: Duration,
    /// `BATON_LLM_FIRST_TOKEN_TIMEOUT_MS` (60000).
    pub first_token_timeout: Duration,
    /// `BATON_LLM_IDLE_TIMEOUT_MS` (30000): longest silence between streamed tokens.
    pub idle_timeout: Duration,
    /// `BATON_LLM_RESPONSE_FORMAT` (json_schema): how structured output is asked for.
    pub response_format: ResponseFormat,
}

/// Everything Baton reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (and `BATON_DATA_DIR`): the store, SQLite in `baton.db` when unset.
    pub store: StoreLocation,
    /// `BATON_DB_POOL_SIZE`: most connections held to the store.
    pub db_pool_size: usize,
    /// `BATON_DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a free store connection
    /// before it answers 503.
    pub db_acquire_timeout: Duration,
    /// `BATON_DB_STATEMENT_TIMEOUT_MS` (Postgres): the longest one statement may run, waiting
    /// for locks included (0: no limit).
    pub db_statement_timeout: Option<Duration>,
    /// `BATON_BIND`: the address the HTTP API listens on.
    pub bind: SocketAddr,
    /// `BATON_WORKERS`: tasks this process runs at once (0: serve the API only).
    pub workers: usize,
    /// `BATON_LEASE_MS`: how long a worker holds a task without a heartbeat.
    pub lease: Duration,
    /// `BATON_POLL_MS`: how often idle workers look for work without a notification.
    pub poll: Duration,
    /// `BATON_ADMISSION_POLL_MS`: how often every key with queued workflows is looked at (so
    /// none waits for a slot freed by a process that stopped before admitting).
    pub admission_poll: Duration,
    /// `BATON_SHUTDOWN_GRACE_MS`: how long running tasks may finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// `BATON_SCHEDULER_POLL_MS`: how often this instance looks for due schedules.
    pub scheduler_poll: Duration,
    /// `BATON_TRANSFORM_TIMEOUT_MS`: the longest a transform's jq program runs (a task's
    /// smaller `timeout_ms` wins).
    pub transform_timeout: Duration,
    /// `BATON_COMMIT_BATCH`: the most decided steps this instance commits together (1: each
    /// alone).
    pub commit_batch: usize,
    /// `BATON_SSE_PER_CALLER`: live event streams one caller may hold open on this instance.
    pub sse_per_caller: usize,
    /// The language model (`BATON_LLM_*`); `None` when none is configured.
    pub llm: Option<LlmSettings>,
    /// `BATON_LLM_PRICES` and `BATON_LLM_LIMITS`: models' prices and shared limits.
    pub llm_policy: LlmPolicy,
    /// `BATON_HTTP_WORKERS`: threads serving HTTP (default: one per CPU).
    pub http_workers: usize,
    /// `BATON_MAX_BODY_BYTES`: the largest request body accepted.
    pub max_body_bytes: usize,
    /// `BATON_LOG_FORMAT`: pretty or json.
    pub log_format: LogFormat,
    /// `BATON_OTLP_ENDPOINT`: an OTLP/HTTP collector (`http://127.0.0.1:4318`) that receives the
    /// process's trace spans at `/v1/traces`; unset, nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// `BATON_JWT_SECRET`: signs access tokens; unset means local mode (no authentication,
    /// loopback only).
    pub jwt_secret: Option<SecretString>,
    /// `BATON_ADMIN_EMAIL` and `BATON_ADMIN_PASSWORD`: the first administrator, created at
    /// startup when no user exists.
    pub admin: Option<AdminAccount>,
    /// `BATON_CORS_ORIGINS`: browser origins allowed to call the API (none by default).
    pub cors_origins: Vec<String>,
    /// `BATON_RATE_LIMIT_PER_MINUTE`: requests per principal (or per IP when anonymous).
    pub rate_limit_per_minute: u32,
    /// `BATON_FETCH_ALLOW_PRIVATE`: let fetch tasks reach loopback and private addresses.
    pub fetch_allow_private: bool,
    /// `BATON_IDEMPOTENCY_WAIT_MS`: how long a POST waits for an identical one still in flight
    /// under the same `Idempotency-Key` before answering 409.
    pub idempotency_wait: Duration,
    /// `BATON_SECRETS_KEY`: seals secrets at rest (32 bytes, base64). Unset: with SQLite, a key
    /// kept in a file next to the database; with Postgres, secrets are off.
    pub secrets_key: Option<SecretsKey>,
}

/// The administrator created on first start.
#[derive(Debug, Clone)]
pub struct AdminAccount {
    pub email: Email,
    pub password: SecretString,
}

/// Whether authentication is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No `BATON_JWT_SECRET`: every caller is the built-in local admin.
    Local,
    Authenticated,
}

/// Variables whose values never appear in messages.
const SECRET_VARIABLES: &[&str] = &[
    "BATON_JWT_SECRET",
    "BATON_ADMIN_PASSWORD",
    "BATON_LLM_API_KEY",
    "OPENAI_API_KEY",
    "BATON_SECRETS_KEY",
];

impl Config {
    /// Reads the process environment (after `.env`, when present).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable name → its value, if set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        let data_dir = vars.get("BATON_DATA_DIR", None, |v| Ok(Some(v.to_owned())))?;
        let store = match vars.get("DATABASE_URL", None, |v| {
            StoreLocation::parse(Some(v), None).map(Some)
        })? {
            Some(store) => store,
            None => {
                StoreLocation::parse(None, data_dir.as_deref()).map_err(|message| ConfigError {
                    name: "BATON_DATA_DIR",
                    value: data_dir.clone().unwrap_or_default(),
                    message,
                })?
            }
        };
        let jwt_secret = vars.get("BATON_JWT_SECRET", None, |v| {
            if v.len() < baton_auth::MIN_SECRET_BYTES {
                Err(format!(
                    "must be at least {} bytes (e.g. `openssl rand -base64 48`)",
                    baton_auth::MIN_SECRET_BYTES
                ))
            } else {
                Ok(Some(SecretString::from(v.to_owned())))
            }
        })?;
        let admin = admin_account(&vars)?;
        let bind = vars.get(
            "BATON_BIND",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            |v| {
                v.parse()
                    .map_err(|_| "must be an address and port like 127.0.0.1:8080".into())
            },
        )?;
        if jwt_secret.is_none() && !bind.ip().is_loopback() {
            return Err(ConfigError {
                name: "BATON_BIND",
                value: bind.to_string(),
                message: "without BATON_JWT_SECRET Baton runs in local mode, with no \
                          authentication, and only listens on a loopback address; set \
                          BATON_JWT_SECRET (at least 32 random bytes) to turn authentication \
                          on, or bind to 127.0.0.1"
                    .into(),
            });
        }
        Ok(Self {
            jwt_secret,
            admin,
            cors_origins: vars.get("BATON_CORS_ORIGINS", Vec::new(), parse_origins)?,
            rate_limit_per_minute: vars.get("BATON_RATE_LIMIT_PER_MINUTE", 600, |v| {
                in_range(v, 1, 10_000_000)
            })?,
            fetch_allow_private: vars.get("BATON_FETCH_ALLOW_PRIVATE", false, parse_bool)?,
            idempotency_wait: vars.get(
                "BATON_IDEMPOTENCY_WAIT_MS",
                Duration::from_secs(10),
                |v| in_range(v, 0, 600_000).map(Duration::from_millis),
            )?,
            secrets_key: vars.get("BATON_SECRETS_KEY", None, |v| {
                SecretsKey::from_base64(v).map(Some)
            })?,
            store,
            db_pool_size: vars.get("BATON_DB_POOL_SIZE", 16, |v| in_range(v, 1, 1_000))?,
            db_acquire_timeout: vars.get(
                "BATON_DB_ACQUIRE_TIMEOUT_MS",
                Duration::from_secs(5),
                |v| in_range(v, 10, 600_000).map(Duration::from_millis),
            )?,
            db_statement_timeout: vars.get(
                "BATON_DB_STATEMENT_TIMEOUT_MS",
                Some(Duration::from_secs(30)),
                |v| in_range(v, 0, 3_600_000).map(|ms| (ms > 0).then(|| Duration::from_millis(ms))),
            )?,
            bind,
            workers: vars.get("BATON_WORKERS", 16, |v| in_range(v, 0, 1_024))?,
            lease: vars.get("BATON_LEASE_MS", Duration::from_secs(30), |v| {
                in_range(v, 1_000, 3_600_000).map(Duration::from_millis)
            })?,
            poll: vars.get("BATON_POLL_MS", Duration::from_millis(500), |v| {
                in_range(v, 10, 60_000).map(Duration::from_millis)
            })?,
            admission_poll: vars.get(
                "BATON_ADMISSION_POLL_MS",
                Duration::from_millis(250),
                |v| in_range(v, 10, 600_000).map(Duration::from_millis),
            )?,
            shutdown_grace: vars.get("BATON_SHUTDOWN_GRACE_MS", Duration::from_secs(30), |v| {
                in_range(v, 0, 3_600_000).map(Duration::from_millis)
            })?,
            scheduler_poll: vars.get(
                "BATON_SCHEDULER_POLL_MS",
                Duration::from_millis(250),
                |v| in_range(v, 10, 600_000).map(Duration::from_millis),
            )?,
            transform_timeout: vars.get(
                "BATON_TRANSFORM_TIMEOUT_MS",
                DEFAULT_TRANSFORM_TIMEOUT,
                |v| in_range(v, 10, 3_600_000).map(Duration::from_millis),
            )?,
            commit_batch: vars.get("BATON_COMMIT_BATCH", DEFAULT_COMMIT_BATCH, |v| {
                in_range(v, 1, 1_000)
            })?,
            sse_per_caller: vars
                .get("BATON_SSE_PER_CALLER", 1_000, |v| in_range(v, 1, 1_000_000))?,
            llm: llm_settings(&vars)?,
            llm_policy: LlmPolicy {
                prices: vars.get(
                    "BATON_LLM_PRICES",
                    HashMap::new(),
                    crate::llm_policy::prices,
                )?,
                limits: vars.get(
                    "BATON_LLM_LIMITS",
                    HashMap::new(),
                    crate::llm_policy::limits,
                )?,
            },
            http_workers: vars.get("BATON_HTTP_WORKERS", default_workers(), |v| {
                in_range(v, 1, 256)
            })?,
            max_body_bytes: vars.get("BATON_MAX_BODY_BYTES", 1_048_576, |v| {
                in_range(v, 1_024, 1_073_741_824)
            })?,
            log_format: vars.get("BATON_LOG_FORMAT", LogFormat::Pretty, |v| v.parse())?,
            otlp_endpoint: vars.get("BATON_OTLP_ENDPOINT", None, |v| {
                parse_otlp_endpoint(v).map(Some)
            })?,
        })
    }

    pub fn auth_mode(&self) -> AuthMode {
        if self.jwt_secret.is_some() {
            AuthMode::Authenticated
        } else {
            AuthMode::Local
        }
    }
}

fn admin_account<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<Option<AdminAccount>, ConfigError> {
    let email = vars.get("BATON_ADMIN_EMAIL", None, |v| {
        Email::new(v).map(Some).map_err(|e| e.to_string())
    })?;
    let password = vars.get("BATON_ADMIN_PASSWORD", None, |v| {
        Password::new(v.to_owned())
            .map(|_| Some(SecretString::from(v.to_owned())))
            .map_err(|_| {
                format!(
                    "must be {} to {} characters",
                    Password::MIN_CHARS,
                    Password::MAX_BYTES
                )
            })
    })?;
    match (email, password) {
        (Some(email), Some(password)) => Ok(Some(AdminAccount { email, password })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError {
            name: "BATON_ADMIN_PASSWORD",
            value: String::new(),
            message: "is required when BATON_ADMIN_EMAIL is set".into(),
        }),
        (None, Some(_)) => Err(ConfigError {
            name: "BATON_ADMIN_EMAIL",
            value: String::new(),
            message: "is required when BATON_ADMIN_PASSWORD is set".into(),
        }),
    }
}

/// `http://127.0.0.1:4318` (or with a path prefix): an http(s) URL with a host, no query, no
/// fragment; kept without its trailing slash, as `/v1/traces` is appended to it.
fn parse_otlp_endpoint(value: &str) -> Result<String, String> {
    let hint =
        "must be an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318";
    let url = reqwest::Url::parse(value.trim()).map_err(|e| format!("{hint} ({e})"))?;
    let valid = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if valid {
        Ok(url.as_str().trim_end_matches('/').to_owned())
    } else {
        Err(hint.to_owned())
    }
}

/// `https://app.example.com, http://localhost:3000`: scheme, host and optional port each.
fn parse_origins(value: &str) -> Result<Vec<String>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            match rest {
                Some(host)
                    if !host.is_empty()
                        && !host.contains('/')
                        && host.bytes().all(|b| b.is_ascii_graphic()) =>
                {
                    Ok(origin.to_owned())
                }
                _ => Err(format!(
                    "{origin:?} is not an origin: use scheme://host[:port], comma-separated, \
                     with no path (e.g. https://app.example.com)"
                )),
            }
        })
        .collect()
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

fn millis(v: &str, min: u64, max: u64) -> Result<Duration, String> {
    in_range(v, min, max).map(Duration::from_millis)
}

fn llm_settings<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<Option<LlmSettings>, ConfigError> {
    let secret = |v: &str| Ok(Some(SecretString::from(v.to_owned())));
    let api_key = match vars.get("BATON_LLM_API_KEY", None, secret)? {
        Some(key) => Some(key),
        None => vars.get("OPENAI_API_KEY", None, secret)?,
    };
    let base_url = vars.get("BATON_LLM_BASE_URL", None, |v| {
        if v.starts_with("http://") || v.starts_with("https://") {
            Ok(Some(v.trim_end_matches('/').to_owned()))
        } else {
            Err("must be an http:// or https:// URL, like https://api.openai.com/v1".into())
        }
    })?;
    let settings = LlmSettings {
        model: vars.get("BATON_LLM_MODEL", "gpt-4o-mini".to_owned(), |v| {
            Ok(v.to_owned())
        })?,
        connect_timeout: vars.get(
            "BATON_LLM_CONNECT_TIMEOUT_MS",
            Duration::from_secs(10),
            |v| millis(v, 100, 600_000),
        )?,
        first_token_timeout: vars.get(
            "BATON_LLM_FIRST_TOKEN_TIMEOUT_MS",
            Duration::from_secs(60),
            |v| millis(v, 100, 3_600_000),
        )?,
        idle_timeout: vars.get("BATON_LLM_IDLE_TIMEOUT_MS", Duration::from_secs(30), |v| {
            millis(v, 100, 3_600_000)
        })?,
        response_format: vars.get(
            "BATON_LLM_RESPONSE_FORMAT",
            ResponseFormat::default(),
            |v| {
                ResponseFormat::parse(v)
                    .ok_or_else(|| "must be json_schema, json_object or off".to_owned())
            },
        )?,
        base_url: base_url
            .clone()
            .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
        api_key,
    };
    Ok((base_url.is_some() || settings.api_key.is_some()).then_some(settings))
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn get<T>(
        &self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match (self.0)(name) {
            None => Ok(default),
            Some(value) if value.trim().is_empty() => Ok(default),
            Some(value) => parse(value.trim()).map_err(|message| ConfigError {
                name,
                value: if name == "DATABASE_URL" {
                    redact_url(&value)
                } else if SECRET_VARIABLES.contains(&name) {
                    "***".to_owned()
                } else {
                    value.clone()
                },
                message,
            }),
        }
    }
}

fn in_range<T>(value: &str, min: T, max: T) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match value.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("must be a whole number between {min} and {max}")),
    }
}

/// The URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.store.to_string(), "sqlite at ./baton.db");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_body_bytes, 1_048_576);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.admission_poll, Duration::from_millis(250));
        assert_eq!(c.scheduler_poll, Duration::from_millis(250));
        assert_eq!(c.transform_timeout, Duration::from_secs(10));
        assert_eq!(c.commit_batch, 32);
        assert_eq!(c.sse_per_caller, 1_000);
        assert_eq!(c.db_acquire_timeout, Duration::from_secs(5));
        assert_eq!(c.db_statement_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn a_statement_timeout_of_zero_is_no_limit() {
        let c = config(&[("BATON_DB_STATEMENT_TIMEOUT_MS", "0")]).unwrap();
        assert_eq!(c.db_statement_timeout, None);
    }

    #[test]
    fn errors_name_the_variable() {
        for (name, value) in [
            ("BATON_BIND", "localhost"),
            ("BATON_MAX_BODY_BYTES", "-3"),
            ("BATON_LOG_FORMAT", "xml"),
            ("DATABASE_URL", "mysql://x"),
            ("BATON_DB_POOL_SIZE", "0"),
            ("BATON_DB_ACQUIRE_TIMEOUT_MS", "0"),
            ("BATON_DB_ACQUIRE_TIMEOUT_MS", "soon"),
            ("BATON_DB_STATEMENT_TIMEOUT_MS", "-1"),
            ("BATON_WORKERS", "many"),
            ("BATON_LEASE_MS", "10"),
            ("BATON_POLL_MS", "0"),
            ("BATON_ADMISSION_POLL_MS", "5"),
            ("BATON_ADMISSION_POLL_MS", "soon"),
            ("BATON_SCHEDULER_POLL_MS", "5"),
            ("BATON_SCHEDULER_POLL_MS", "soon"),
            ("BATON_TRANSFORM_TIMEOUT_MS", "0"),
            ("BATON_TRANSFORM_TIMEOUT_MS", "ten"),
            ("BATON_SSE_PER_CALLER", "0"),
            ("BATON_OTLP_ENDPOINT", "127.0.0.1:4318"),
            ("BATON_OTLP_ENDPOINT", "grpc://collector:4317"),
            ("BATON_OTLP_ENDPOINT", "http://collector:4318?x=1"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn the_otlp_endpoint_is_off_by_default_and_kept_without_a_trailing_slash() {
        assert_eq!(config(&[]).unwrap().otlp_endpoint, None);
        for (value, kept) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318"),
            ("http://127.0.0.1:4318/", "http://127.0.0.1:4318"),
            (
                "https://otel.example.com/prefix/",
                "https://otel.example.com/prefix",
            ),
        ] {
            let c = config(&[("BATON_OTLP_ENDPOINT", value)]).unwrap();
            assert_eq!(c.otlp_endpoint.as_deref(), Some(kept));
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn local_mode_only_binds_loopback() {
        let c = config(&[]).unwrap();
        assert_eq!(c.auth_mode(), AuthMode::Local);
        assert!(config(&[("BATON_BIND", "[::1]:8080")]).is_ok());
        let err = config(&[("BATON_BIND", "0.0.0.0:8080")]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("BATON_BIND"), "{message}");
        assert!(message.contains("BATON_JWT_SECRET"), "{message}");
        let c = config(&[("BATON_BIND", "0.0.0.0:8080"), ("BATON_JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(c.auth_mode(), AuthMode::Authenticated);
    }

    #[test]
    fn short_secrets_are_refused_without_being_repeated() {
        let err = config(&[("BATON_JWT_SECRET", "too-short-a-secret")]).unwrap_err();
        assert_eq!(err.name, "BATON_JWT_SECRET");
        assert!(!err.to_string().contains("too-short"), "{err}");
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }

    #[test]
    fn the_secrets_key_is_32_bytes_of_base64_and_never_repeated() {
        assert!(config(&[]).unwrap().secrets_key.is_none());
        let key = "q1Xy0VbqP0n3q9mNQmv0kqzYb3o4uV9cX2yT1ZzGm8Y=";
        assert!(
            config(&[("BATON_SECRETS_KEY", key)])
                .unwrap()
                .secrets_key
                .is_some()
        );
        let err = config(&[("BATON_SECRETS_KEY", "c2hvcnQtc2VjcmV0")]).unwrap_err();
        assert_eq!(err.name, "BATON_SECRETS_KEY");
        assert!(err.to_string().contains("32 bytes"), "{err}");
        assert!(!err.to_string().contains("c2hvcnQ"), "{err}");
    }

    #[test]
    fn protection_settings_are_parsed() {
        let c = config(&[
            (
                "BATON_CORS_ORIGINS",
                "https://app.example.com, http://localhost:3000",
            ),
            ("BATON_RATE_LIMIT_PER_MINUTE", "42"),
            ("BATON_FETCH_ALLOW_PRIVATE", "true"),
            ("BATON_ADMIN_EMAIL", "Root@Example.com"),
            ("BATON_ADMIN_PASSWORD", "a long password"),
        ])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert_eq!(c.rate_limit_per_minute, 42);
        assert!(c.fetch_allow_private);
        assert_eq!(c.admin.unwrap().email.as_str(), "root@example.com");

        let d = config(&[]).unwrap();
        assert!(d.cors_origins.is_empty());
        assert_eq!(d.rate_limit_per_minute, 600);
        assert!(!d.fetch_allow_private);
        assert!(d.admin.is_none());

        for (name, value) in [
            ("BATON_CORS_ORIGINS", "app.example.com"),
            ("BATON_CORS_ORIGINS", "https://app.example.com/path"),
            ("BATON_RATE_LIMIT_PER_MINUTE", "0"),
            ("BATON_FETCH_ALLOW_PRIVATE", "maybe"),
            ("BATON_ADMIN_EMAIL", "not-an-email"),
            ("BATON_IDEMPOTENCY_WAIT_MS", "-1"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{err}");
        }
        let err = config(&[("BATON_ADMIN_EMAIL", "a@b.c")]).unwrap_err();
        assert_eq!(err.name, "BATON_ADMIN_PASSWORD");
        let err = config(&[
            ("BATON_ADMIN_EMAIL", "a@b.c"),
            ("BATON_ADMIN_PASSWORD", "short"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "BATON_ADMIN_PASSWORD");
        assert!(!err.to_string().contains("short\""), "{err}");
    }

    #[test]
    fn llm_is_configured_by_a_base_url_or_a_key() {
        assert!(config(&[]).unwrap().llm.is_none());
        let llm = config(&[("OPENAI_API_KEY", "sk-test")])
            .unwrap()
            .llm
            .unwrap();
        assert_eq!(llm.base_url, "https://api.openai.com/v1");
        assert_eq!(llm.api_key.unwrap().expose_secret(), "sk-test");
        let llm = config(&[
            ("BATON_LLM_BASE_URL", "http://127.0.0.1:11434/v1/"),
            ("BATON_LLM_MODEL", "llama3"),
        ])
        .unwrap()
        .llm
        .unwrap();
        assert_eq!(llm.base_url, "http://127.0.0.1:11434/v1");
        assert!(llm.api_key.is_none());
        assert_eq!(llm.model, "llama3");
        let err = config(&[("BATON_LLM_BASE_URL", "localhost:11434")]).unwrap_err();
        assert_eq!(err.name, "BATON_LLM_BASE_URL");
    }

    #[test]
    fn passwords_are_not_repeated_in_errors() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
