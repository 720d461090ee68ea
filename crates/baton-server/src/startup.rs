//! Building and running the application: `Application::build(config)` binds the port (0 picks a
//! free one) and wires the concrete adapters; `run_until_stopped` serves until a signal.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use baton_domain::WorkflowId;
use baton_domain::ports::LlmClient;
use baton_engine::{Engine, EngineConfig, EngineHandle, EventHub};
use baton_fetch::ReqwestFetcher;
use baton_llm::{LlmConfig, OpenAiClient};
use baton_postgres::{CANCEL_CHANNEL, EVENTS_CHANNEL, PgConfig, PgStore, WORK_CHANNEL};
use tokio::task::JoinHandle;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;
use uuid::Uuid;

use crate::api::{self, ApiDoc, AppState};
use crate::config::{Config, LlmSettings};
use crate::error;
use crate::middleware::request_context;

pub struct Application {
    port: u16,
    server: Server,
    store: PgStore,
    engine: Option<EngineHandle>,
    listener: JoinHandle<()>,
    shutdown_grace: Duration,
}

/// Creates the database when missing and runs pending migrations (under an advisory lock).
pub async fn prepare_database(config: &Config) -> anyhow::Result<()> {
    baton_postgres::create_database_if_missing(config.database_url()).await?;
    baton_postgres::run_migrations(config.database_url()).await?;
    Ok(())
}

impl Application {
    /// Prepares the database and binds `config.bind`; does not serve yet.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        prepare_database(&config).await?;
        let store = PgStore::connect(&PgConfig {
            max_connections: config.db_pool_size,
            ..PgConfig::new(config.database_url())
        })?;
        let llm = config
            .llm
            .as_ref()
            .map(llm_client)
            .transpose()?
            .map(|client| Arc::new(client) as Arc<dyn LlmClient>);
        let hub = EventHub::new(Arc::new(store.clone()));
        let engine = if config.workers > 0 {
            Some(start_engine(&config, &store, llm.clone())?)
        } else {
            None
        };
        let notifications = listen(
            &config,
            engine.as_ref().map(|(_, e)| e.clone()),
            hub.clone(),
        );
        let listener = TcpListener::bind(config.bind)
            .with_context(|| format!("cannot listen on {} (BATON_BIND)", config.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            store: Arc::new(store.clone()),
            documents: Arc::new(store.clone()),
            events: hub,
            llm,
        });
        let max_body = config.max_body_bytes;
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
                .wrap(Compress::default())
                .wrap(from_fn(request_context))
                .configure(api::routes)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", openapi.clone()))
                .default_service(web::to(api::not_found))
        })
        .workers(config.http_workers)
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(30)
        .run();
        Ok(Self {
            port,
            server,
            store,
            engine: engine.map(|(handle, _)| handle),
            listener: notifications,
            shutdown_grace: config.shutdown_grace,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store this application uses (tests count its statements).
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// Serves (and runs tasks) until the server is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _engine = self.engine;
        let _listener = AbortOnDrop(self.listener);
        self.server.await
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully: no new requests or claims,
    /// running tasks get the grace period, the leases of the rest are handed back.
    pub async fn run_until_signalled(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown_signal().await;
        tracing::info!("stopping: finishing requests and tasks in flight");
        let listener = self.listener;
        let engine = async {
            if let Some(engine) = self.engine {
                engine.shutdown(self.shutdown_grace).await;
            }
            listener.abort();
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
    })
    .context("cannot build the HTTP client of the language model")
}

/// The executor of this process (its `Engine` is kept to route notifications to it).
fn start_engine(
    config: &Config,
    store: &PgStore,
    llm: Option<Arc<dyn LlmClient>>,
) -> anyhow::Result<(EngineHandle, Engine)> {
    let fetcher = ReqwestFetcher::new().context("cannot build the HTTP client of fetch tasks")?;
    let engine = Engine::new(
        Arc::new(store.clone()),
        Arc::new(fetcher),
        llm,
        EngineConfig {
            worker_id: worker_id(),
            workers: config.workers,
            lease: config.lease,
            poll: config.poll,
        },
    );
    Ok((engine.start(), engine))
}

/// One LISTEN connection per process: wakes idle workers, stops cancelled tasks at once and feeds
/// SSE clients, whichever instance wrote to the database.
fn listen(config: &Config, engine: Option<Engine>, hub: Arc<EventHub>) -> JoinHandle<()> {
    baton_postgres::spawn_listener(
        config.database_url().to_owned(),
        &[WORK_CHANNEL, CANCEL_CHANNEL, EVENTS_CHANNEL],
        Arc::new(move |channel: &str, payload: &str| {
            let workflow = payload.parse::<Uuid>().ok().map(WorkflowId::from_uuid);
            match (channel, workflow, &engine) {
                (EVENTS_CHANNEL, Some(id), _) => hub.notify(id),
                (CANCEL_CHANNEL, Some(id), Some(engine)) => engine.workflow_cancelled(id),
                (WORK_CHANNEL, _, Some(engine)) => engine.wake(),
                _ => {}
            }
        }),
    )
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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
