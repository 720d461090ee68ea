//! The route table: every route of the API, its method and who may call it, as data. Routes are
//! registered from it, and the auth-matrix test walks it, so a route cannot be added without
//! saying who may call it (and being tested for it). Adding a route is one line here.
//!
//! `access` states what the handler enforces through its extractor: `Public` handlers take no
//! `Caller`, `User` handlers take a `Caller`, `Admin` handlers an `AdminCaller`.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};

use super::{
    api_keys, auth, completions, definitions, documents, events, health, metrics, resource,
    schedules, secrets, signals, tasks, usage, users, workflows,
};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// Any authenticated user (on their own resources; admins on all).
    User,
    /// Administrators only; members get 403.
    Admin,
}

/// How a route is served.
#[derive(Clone, Copy)]
pub enum Serve {
    /// By this handler (given the route with its method guard).
    Handler(fn(actix_web::Route) -> actix_web::Route),
    /// By a redirect (307) to this path.
    Redirect(&'static str),
    /// By a service registered outside the table (the OpenAPI document and its UI, the
    /// dashboard).
    Elsewhere,
}

#[derive(Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub serve: Serve,
}

impl Route {
    pub fn method(&self) -> Method {
        Method::from_bytes(self.method.as_bytes()).unwrap_or(Method::GET)
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({:?})", self.method, self.path, self.access)
    }
}

/// `route!("GET", "/api/things/{id}", User, things::get)`: one line per route.
macro_rules! route {
    ($method:literal, $path:literal, $access:ident, $handler:path) => {
        Route {
            method: $method,
            path: $path,
            access: Access::$access,
            serve: Serve::Handler(|r| r.to($handler)),
        }
    };
}

/// A public route served outside the table.
const fn elsewhere(method: &'static str, path: &'static str) -> Route {
    Route {
        method,
        path,
        access: Access::Public,
        serve: Serve::Elsewhere,
    }
}

/// A public route redirecting to `to`.
const fn redirect(method: &'static str, path: &'static str, to: &'static str) -> Route {
    Route {
        method,
        path,
        access: Access::Public,
        serve: Serve::Redirect(to),
    }
}

/// DESIGN.md §4 and §5. One line per route; keep it a table.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    route!("GET",    "/healthz",                    Public, health::healthz),
    route!("GET",    "/readyz",                     Public, health::readyz),
    route!("GET",    "/metrics",                    Admin,  metrics::scrape),
    elsewhere("GET", "/api/openapi.json"),
    elsewhere("GET", "/docs/"),
    redirect("GET",  "/docs",                       "/docs/"),
    // The dashboard (`crate::dashboard`): its page and files.
    elsewhere("GET", "/"),
    elsewhere("GET", "/ui/style.css"),
    elsewhere("GET", "/ui/favicon.svg"),
    elsewhere("GET", "/ui/app.js"),
    elsewhere("GET", "/ui/api.js"),
    elsewhere("GET", "/ui/dom.js"),
    elsewhere("GET", "/ui/signin.js"),
    elsewhere("GET", "/ui/runs.js"),
    elsewhere("GET", "/ui/run.js"),
    elsewhere("GET", "/ui/timeline.js"),
    elsewhere("GET", "/ui/events.js"),
    route!("POST",   "/api/auth/login",             Public, auth::login),
    route!("GET",    "/api/workflows",              User,   workflows::list),
    route!("POST",   "/api/workflows",              User,   workflows::create),
    route!("POST",   "/api/workflows/validate",     User,   super::validate::validate),
    route!("GET",    "/api/workflows/{id}",         User,   workflows::get),
    route!("PATCH",  "/api/workflows/{id}",         User,   workflows::patch),
    route!("DELETE", "/api/workflows/{id}",         User,   workflows::delete),
    route!("GET",    "/api/workflows/{id}/tasks",   User,   workflows::tasks),
    route!("POST",   "/api/workflows/{id}/start",   User,   workflows::start),
    route!("POST",   "/api/workflows/{id}/cancel",  User,   workflows::cancel),
    route!("POST",   "/api/workflows/{id}/retry",   User,   workflows::retry),
    route!("POST",   "/api/workflows/{id}/resume",  User,   workflows::resume),
    route!("GET",    "/api/workflows/{id}/signals", User,   signals::list),
    route!("POST",   "/api/workflows/{id}/signals/{name}", User, signals::send),
    route!("GET",    "/api/workflows/{id}/events",  User,   events::stream),
    route!("GET",    "/api/workflows/{id}/usage",   User,   usage::workflow),
    route!("GET",    "/api/usage",                  User,   usage::owner),
    route!("GET",    "/api/tasks",                  User,   tasks::list),
    route!("POST",   "/api/tasks",                  User,   tasks::create),
    route!("GET",    "/api/tasks/{id}",             User,   tasks::get),
    route!("PUT",    "/api/tasks/{id}",             User,   tasks::put),
    route!("PATCH",  "/api/tasks/{id}",             User,   tasks::patch),
    route!("DELETE", "/api/tasks/{id}",             User,   tasks::delete),
    route!("GET",    "/api/documents",              User,   documents::list),
    route!("GET",    "/api/documents/{id}",         User,   documents::get),
    route!("POST",   "/api/completions",            User,   completions::create),
    route!("GET",    "/api/api-keys",               User,   api_keys::list),
    route!("POST",   "/api/api-keys",               User,   api_keys::create),
    route!("DELETE", "/api/api-keys/{id}",          User,   api_keys::revoke),
    route!("GET",    "/api/secrets",                User,   secrets::list),
    route!("POST",   "/api/secrets",                User,   secrets::create),
    route!("GET",    "/api/secrets/{name}",         User,   secrets::get),
    route!("PUT",    "/api/secrets/{name}",         User,   secrets::put),
    route!("DELETE", "/api/secrets/{name}",         User,   secrets::delete),
    route!("GET",    "/api/definitions",            User,   definitions::list),
    route!("POST",   "/api/definitions",            User,   definitions::create),
    route!("GET",    "/api/definitions/{name}",     User,   definitions::get),
    route!("PUT",    "/api/definitions/{name}",     User,   definitions::put),
    route!("DELETE", "/api/definitions/{name}",     User,   definitions::delete),
    route!("GET",    "/api/definitions/{name}/versions", User, definitions::versions),
    route!("POST",   "/api/definitions/{name}/runs", User,  definitions::run),
    route!("GET",    "/api/schedules",              User,   schedules::list),
    route!("POST",   "/api/schedules",              User,   schedules::create),
    route!("GET",    "/api/schedules/{id}",         User,   schedules::get),
    route!("DELETE", "/api/schedules/{id}",         User,   schedules::delete),
    route!("POST",   "/api/schedules/{id}/pause",   User,   schedules::pause),
    route!("POST",   "/api/schedules/{id}/resume",  User,   schedules::resume),
    route!("GET",    "/api/admin/users",            Admin,  users::list),
    route!("POST",   "/api/admin/users",            Admin,  users::create),
];

/// Registers every handled or redirected route of [`ROUTES`], one resource per path, each
/// answering 405 with the right `Allow` to the methods it lacks.
pub fn register(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for route in ROUTES {
        if !matches!(route.serve, Serve::Elsewhere) && !paths.contains(&route.path) {
            paths.push(route.path);
        }
    }
    for path in paths {
        let routes: Vec<&Route> = ROUTES.iter().filter(|r| r.path == path).collect();
        let allowed = routes
            .iter()
            .map(|r| r.method)
            .collect::<Vec<_>>()
            .join(", ");
        let mut service = resource(path, allowed);
        for route in routes {
            let guarded = web::route().method(route.method());
            service = match route.serve {
                Serve::Handler(handler) => service.route(handler(guarded)),
                Serve::Redirect(to) => service.route(guarded.to(move || redirect_to(to))),
                Serve::Elsewhere => service,
            };
        }
        cfg.service(service);
    }
}

async fn redirect_to(to: &'static str) -> HttpResponse {
    HttpResponse::TemporaryRedirect()
        .insert_header((header::LOCATION, to))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once_with_a_known_method() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(
                ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&a.method),
                "{a:?}"
            );
            assert_eq!(a.method().as_str(), a.method);
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{a:?} is listed twice"
                );
            }
        }
    }
}
