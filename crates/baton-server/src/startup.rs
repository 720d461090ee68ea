//! Building and running the application: `Application::build(config)` binds the port (0 picks a
//! free one) and wires the concrete adapters; `run_until_stopped` serves until a signal.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{Backend, Store};
use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use baton_auth::JwtKeys;
use baton_cache::{CachedUserStore, DEFAULT_KEY_TTL};
use baton_domain::ports::{LlmClient, Signal, Signals, UserStore};
use baton_domain::{NewUser, Role, UserId};
use baton_engine::{EngineConfig, Runtime, Secrets};
use baton_fetch::ReqwestFetcher;
use baton_llm::{LlmConfig, OpenAiClient};
use secrecy::ExposeSecret;
use tokio::task::JoinHandle;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;
use uuid::Uuid;

use crate::api::{self, ApiDoc, AppState};
use crate::config::{AuthMode, Config, LlmSettings};
use crate::dashboard;
use crate::error;
use crate::metrics::{Metrics, count_requests};
use crate::middleware::request_context;
use crate::protection::authn::authenticate;
use crate::protection::cors::{cors, preflight_errors};
use crate::protection::idempotency::idempotency;
use crate::protection::rate_limit::rate_limit;
use crate::protection::{Authenticator, Idempotency, RateLimiter};
use crate::secrets_key::secrets_key;

/// How long an access token from `POST /api/auth/login` is valid.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3_600);

/// Most API key lookups cached at once.
const KEY_CACHE_CAPACITY: u64 = 100_000;

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    runtime: Runtime,
    listener: Option<JoinHandle<()>>,
    shutdown_grace: Duration,
}

/// Creates the database (or SQLite file) when missing and runs pending migrations.
pub async fn prepare_database(config: &Config) -> anyhow::Result<()> {
    Store::open(config).await?;
    tracing::info!(store = %config.store, "migrations are up to date");
    Ok(())
}

impl Application {
    /// Prepares the store and binds `config.bind`; does not serve yet.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        if config.auth_mode() == AuthMode::Local {
            tracing::warn!(
                bind = %config.bind,
                "BATON_JWT_SECRET is not set: authentication is off (local mode), every caller \
                 acts as the built-in local admin, and only loopback addresses may be bound"
            );
        }
        let store = Store::open(&config).await?;
        tracing::info!(store = %config.store, "store ready");
        match store.clone() {
            Store::Postgres(backend) => Self::assemble(config, backend, store).await,
            Store::Sqlite(backend) => Self::assemble(config, backend, store).await,
        }
    }

    async fn assemble<S: Backend>(
        config: Config,
        backend: S,
        store: Store,
    ) -> anyhow::Result<Self> {
        let mode = config.auth_mode();
        let (signals, listener) = store.signals(&config);
        let llm = config
            .llm
            .as_ref()
            .map(llm_client)
            .transpose()?
            .map(|client| Arc::new(client) as Arc<dyn LlmClient>);
        let users = Arc::new(CachedUserStore::new(
            backend.clone(),
            DEFAULT_KEY_TTL,
            KEY_CACHE_CAPACITY,
        ));
        match mode {
            AuthMode::Authenticated => {
                create_first_admin(&config, users.as_ref()).await?;
                // Prepare the dummy hash now, so the first unknown-email login is not slower
                // than a wrong password.
                tokio::task::spawn_blocking(|| baton_auth::verify_unknown_user("")).await?;
            }
            AuthMode::Local if config.admin.is_some() => {
                tracing::warn!("BATON_ADMIN_EMAIL is ignored in local mode");
            }
            AuthMode::Local => {}
        }
        let secrets = Secrets::new(Arc::new(backend.clone()), secrets_key(&config)?);
        let metrics = Arc::new(Metrics::new());
        let runtime = build_runtime(
            &config,
            &backend,
            signals.clone(),
            llm.clone(),
            secrets.clone(),
            metrics.clone(),
        )?;
        let forget = users.clone();
        signals.subscribe(Arc::new(move |signal| {
            if signal == Signal::KeysRevoked {
                forget.forget_api_keys();
            }
        }));
        let tcp = TcpListener::bind(config.bind)
            .with_context(|| format!("cannot listen on {} (BATON_BIND)", config.bind))?;
        let port = tcp.local_addr()?.port();
        let jwt = config
            .jwt_secret
            .as_ref()
            .map(|secret| JwtKeys::new(secret.expose_secret().as_bytes(), ACCESS_TOKEN_TTL));
        let definitions = runtime
            .definitions()
            .cloned()
            .context("the runtime was built without definitions")?;
        let schedules = runtime
            .schedules()
            .cloned()
            .context("the runtime was built without schedules")?;
        let state = web::Data::new(AppState {
            workflows: runtime.workflows().clone(),
            secrets,
            definitions,
            schedules,
            usage: Arc::new(backend.clone()),
            store: Arc::new(backend.clone()),
            documents: Arc::new(backend.clone()),
            events: runtime.events().clone(),
            llm,
            users: users.clone(),
            auth: Authenticator::new(jwt, users),
            limiter: RateLimiter::new(config.rate_limit_per_minute),
            streams: crate::protection::StreamSlots::new(config.sse_per_caller),
            idempotency: Idempotency::new(
                Arc::new(backend.clone()),
                config.idempotency_wait,
                config.max_body_bytes,
            ),
            metrics,
            queue: Arc::new(backend.clone()),
        });
        let max_body = config.max_body_bytes;
        let cors_origins = config.cors_origins.clone();
        let openapi = ApiDoc::openapi();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(error::json_error),
                )
                .app_data(web::PayloadConfig::default().limit(max_body))
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .wrap(from_fn(idempotency))
                .wrap(Compress::default())
                .wrap(from_fn(rate_limit))
                .wrap(from_fn(authenticate))
                .wrap(cors(&cors_origins))
                .wrap(from_fn(preflight_errors))
                .wrap(from_fn(count_requests))
                .wrap(from_fn(request_context))
                .configure(api::routes)
                .configure(dashboard::register)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", openapi.clone()))
                .default_service(web::to(api::not_found))
        })
        .workers(config.http_workers)
        .listen(tcp)?
        .disable_signals()
        .shutdown_timeout(30)
        .run();
        Ok(Self {
            port,
            server,
            store,
            runtime,
            listener,
            shutdown_grace: config.shutdown_grace,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store this application uses (tests count its statements).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves (and runs tasks) until the server is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _runtime = self.runtime;
        let result = self.server.await;
        if let Some(listener) = self.listener {
            listener.abort();
        }
        result
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully: no new requests or claims,
    /// running tasks get the grace period, the leases of the rest are handed back.
    pub async fn run_until_signalled(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown_signal().await;
        tracing::info!("stopping: finishing requests and tasks in flight");
        // Event streams would hold the server open: the runtime ends them first (clients
        // resume elsewhere), then stops its workers.
        let listener = self.listener;
        let engine = async {
            self.runtime.shutdown(self.shutdown_grace).await;
            if let Some(listener) = listener {
                listener.abort();
            }
        };
        tokio::join!(handle.stop(true), engine);
        server.await??;
        tracing::info!("stopped");
        Ok(())
    }
}

fn llm_client(settings: &LlmSettings) -> anyhow::Result<OpenAiClient> {
    OpenAiClient::new(LlmConfig {
        base_url: settings.base_url.clone(),
        api_key: settings.api_key.clone(),
        model: settings.model.clone(),
        connect_timeout: settings.connect_timeout,
        first_token_timeout: settings.first_token_timeout,
        idle_timeout: settings.idle_timeout,
        response_format: settings.response_format,
    })
    .context("cannot build the HTTP client of the language model")
}

/// The runtime over the store: the use cases, live events, and (with workers) the executor,
/// woken by this process's own signals and other instances' notifications, polling as the
/// fallback.
fn build_runtime<S: Backend>(
    config: &Config,
    store: &S,
    signals: Arc<dyn Signals>,
    llm: Option<Arc<dyn LlmClient>>,
    secrets: Secrets,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Runtime> {
    if config.workers > 0 && config.fetch_allow_private {
        tracing::warn!(
            "BATON_FETCH_ALLOW_PRIVATE=true: fetch tasks may reach loopback and private addresses"
        );
    }
    let fetcher = ReqwestFetcher::new(config.fetch_allow_private)
        .context("cannot build the HTTP client of fetch tasks")?;
    let store = Arc::new(store.clone());
    Ok(
        Runtime::builder(store.clone(), store.clone(), store.clone())
            .schedules(store.clone(), store)
            .scheduler_poll(config.scheduler_poll)
            .admission_poll(config.admission_poll)
            .signals(signals)
            .fetcher(Arc::new(fetcher))
            .llm(llm)
            .secrets(secrets)
            .observer(metrics)
            .config(EngineConfig {
                worker_id: worker_id(),
                workers: config.workers,
                lease: config.lease,
                poll: config.poll,
                llm_policy: config.llm_policy.clone(),
                transform_timeout: config.transform_timeout,
                commit_batch: config.commit_batch,
            })
            .start(),
    )
}

/// Creates the administrator of `BATON_ADMIN_EMAIL`/`BATON_ADMIN_PASSWORD` when no user exists.
async fn create_first_admin(config: &Config, users: &dyn UserStore) -> anyhow::Result<()> {
    let Some(admin) = &config.admin else {
        tracing::info!(
            "BATON_ADMIN_EMAIL is not set: no administrator is created (if no user exists yet, \
             nobody can log in)"
        );
        return Ok(());
    };
    let password = admin.password.clone();
    let password_hash =
        tokio::task::spawn_blocking(move || baton_auth::hash_password(password.expose_secret()))
            .await??;
    let created = users
        .create_first_user(NewUser {
            id: UserId::generate(),
            email: admin.email.clone(),
            role: Role::Admin,
            password_hash,
        })
        .await
        .context("cannot create the first administrator")?;
    if let Some(user) = created {
        tracing::info!(email = %user.email, "created the first administrator");
    }
    Ok(())
}

/// `<host>-<pid>-<random>`: unique per process, readable in `lease_owner`.
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "baton".to_owned());
    let random = Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..6])
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
