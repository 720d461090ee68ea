//! The HTTP API: its route table, shared state and OpenAPI document.

mod api_keys;
mod auth;
mod caller;
mod completions;
pub mod concurrency;
mod definition_dto;
mod definitions;
mod documents;
pub mod dto;
mod events;
mod examples;
mod health;
mod metrics;
mod paging;
mod params;
mod preconditions;
mod responses;
mod routes;
mod schedules;
mod secrets;
mod signals;
mod sse;
mod tasks;
mod usage;
mod users;
mod validate;
mod workflows;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, Resource, web};
use baton_domain::ports::{
    DocumentStore, LlmClient, LlmStore, TaskQueue, UserStore, WorkflowStore,
};
use baton_engine::{Definitions, EventHub, Schedules, Secrets, Workflows};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use caller::{AdminCaller, Caller};
/// The definition the OpenAPI document's examples name (`tests/api/openapi.rs` makes it).
pub use examples::DEFINITION as EXAMPLE_DEFINITION;
use responses::ServerErrors;
pub use routes::{Access, ROUTES, Route, Serve};

use crate::error::ApiError;
use crate::protection::{Authenticator, Idempotency, RateLimiter};

/// What every handler and middleware shares.
pub struct AppState {
    /// The use cases over workflows and tasks.
    pub workflows: Workflows,
    /// The use cases over secrets (off without a key: creating one answers 409).
    pub secrets: Secrets,
    /// The use cases over workflow definitions.
    pub definitions: Definitions,
    /// The use cases over schedules (fired by the runtime's scheduler).
    pub schedules: Schedules,
    /// The usage ledger.
    pub usage: Arc<dyn LlmStore>,
    /// The store itself, for the readiness probe.
    pub store: Arc<dyn WorkflowStore>,
    pub documents: Arc<dyn DocumentStore>,
    /// Live events of workflows, for SSE clients.
    pub events: Arc<EventHub>,
    /// `None` when no language model is configured.
    pub llm: Option<Arc<dyn LlmClient>>,
    pub users: Arc<dyn UserStore>,
    pub auth: Authenticator,
    pub limiter: RateLimiter,
    /// Live event streams per caller.
    pub streams: crate::protection::StreamSlots,
    pub idempotency: Idempotency,
    /// This application's metrics (its own registry).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The queue, counted at each scrape of the metrics.
    pub queue: Arc<dyn TaskQueue>,
}

/// A resource answering 405 (with `Allow`) to methods it has no route for.
pub(crate) fn resource(path: &str, allowed: String) -> Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| {
        let allowed = allowed.clone();
        async move {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                allowed,
            })
        }
    }))
}

/// Registers the routes of [`ROUTES`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    routes::register(cfg);
}

/// Unknown routes.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Baton",
        description = "A durable workflow engine for LLM pipelines. Every failure answers \
            `{\"error\", \"code\", \"details\"}`; every response carries `X-Request-Id`.",
    ),
    paths(
        health::healthz,
        health::readyz,
        metrics::scrape,
        workflows::create,
        validate::validate,
        workflows::list,
        workflows::get,
        workflows::patch,
        workflows::delete,
        workflows::tasks,
        workflows::start,
        workflows::cancel,
        workflows::retry,
        workflows::resume,
        signals::send,
        signals::list,
        usage::workflow,
        usage::owner,
        events::stream,
        completions::create,
        documents::list,
        documents::get,
        tasks::list,
        tasks::get,
        tasks::create,
        tasks::put,
        tasks::patch,
        tasks::delete,
        auth::login,
        api_keys::create,
        api_keys::list,
        api_keys::revoke,
        secrets::create,
        secrets::list,
        secrets::get,
        secrets::put,
        secrets::delete,
        definitions::create,
        definitions::list,
        definitions::get,
        definitions::put,
        definitions::delete,
        definitions::versions,
        definitions::run,
        schedules::create,
        schedules::list,
        schedules::get,
        schedules::delete,
        schedules::pause,
        schedules::resume,
        users::create,
        users::list,
    ),
    components(responses(
        responses::Unauthorized,
        responses::Forbidden,
        responses::PayloadTooLarge,
        responses::UnsupportedMediaType,
        responses::RateLimited,
        responses::Unavailable,
        responses::InternalError,
    )),
    modifiers(&Security, &ServerErrors),
    servers((url = "/", description = "The Baton instance serving this document")),
    security(("bearer" = []), ("api_key" = [])),
    tags(
        (name = "workflows", description = "Workflows and their ordered tasks"),
        (name = "tasks", description = "Single tasks"),
        (name = "documents", description = "What store tasks wrote"),
        (name = "llm", description = "One-off language model calls"),
        (name = "usage", description = "What llm tasks' provider calls used and cost (the usage ledger)"),
        (name = "health", description = "Probes"),
        (name = "auth", description = "Logging in and API keys"),
        (name = "secrets", description = "Values tasks use without showing them: `{{ secrets.NAME }}`"),
        (name = "definitions", description = "Named, versioned workflow definitions and their runs"),
        (name = "schedules", description = "Runs of a definition on a cron, in a time zone"),
        (name = "admin", description = "User management (administrators)"),
    )
)]
pub struct ApiDoc;

/// The two ways to authenticate: a bearer token (JWT or API key) or `X-API-Key`.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from POST /api/auth/login, or an API key",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}
