//! The HTTP API: its route table, shared state and OpenAPI document.

mod caller;
mod completions;
mod documents;
pub mod dto;
mod events;
mod health;
mod paging;
mod preconditions;
mod sse;
mod tasks;
mod workflows;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, Resource, web};
use baton_domain::ports::{DocumentStore, LlmClient, WorkflowStore};
use baton_engine::EventHub;
use utoipa::OpenApi;

pub use caller::Caller;

use crate::error::ApiError;

/// What every handler shares.
pub struct AppState {
    pub store: Arc<dyn WorkflowStore>,
    pub documents: Arc<dyn DocumentStore>,
    /// Live events of workflows, for SSE clients.
    pub events: Arc<EventHub>,
    /// `None` when no language model is configured.
    pub llm: Option<Arc<dyn LlmClient>>,
}

/// A resource answering 405 (with `Allow`) to methods it has no route for.
fn resource(path: &str, allowed: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allowed,
        })
    }))
}

/// The route table of DESIGN.md §4.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").route(web::get().to(health::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(health::readyz)))
        .service(
            resource("/api/workflows", "GET, POST")
                .route(web::get().to(workflows::list))
                .route(web::post().to(workflows::create)),
        )
        .service(
            resource("/api/workflows/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(workflows::get))
                .route(web::patch().to(workflows::patch))
                .route(web::delete().to(workflows::delete)),
        )
        .service(
            resource("/api/workflows/{id}/tasks", "GET").route(web::get().to(workflows::tasks)),
        )
        .service(resource("/api/workflows/{id}/events", "GET").route(web::get().to(events::stream)))
        .service(resource("/api/documents", "GET").route(web::get().to(documents::list)))
        .service(resource("/api/documents/{id}", "GET").route(web::get().to(documents::get)))
        .service(resource("/api/completions", "POST").route(web::post().to(completions::create)))
        .service(
            resource("/api/workflows/{id}/start", "POST").route(web::post().to(workflows::start)),
        )
        .service(
            resource("/api/workflows/{id}/cancel", "POST").route(web::post().to(workflows::cancel)),
        )
        .service(
            resource("/api/workflows/{id}/retry", "POST").route(web::post().to(workflows::retry)),
        )
        .service(
            resource("/api/tasks", "GET, POST")
                .route(web::get().to(tasks::list))
                .route(web::post().to(tasks::create)),
        )
        .service(
            resource("/api/tasks/{id}", "GET, PUT, PATCH, DELETE")
                .route(web::get().to(tasks::get))
                .route(web::put().to(tasks::put))
                .route(web::patch().to(tasks::patch))
                .route(web::delete().to(tasks::delete)),
        );
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
        workflows::create,
        workflows::list,
        workflows::get,
        workflows::patch,
        workflows::delete,
        workflows::tasks,
        workflows::start,
        workflows::cancel,
        workflows::retry,
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
    ),
    tags(
        (name = "workflows", description = "Workflows and their ordered tasks"),
        (name = "tasks", description = "Single tasks"),
        (name = "documents", description = "What store tasks wrote"),
        (name = "llm", description = "One-off language model calls"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;
