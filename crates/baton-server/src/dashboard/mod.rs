//! The dashboard: a page and its scripts and styles, compiled into the binary and served at `/`
//! and `/ui/…`. It is a client of the public API only (it holds the caller's token in the tab's
//! `sessionStorage`), so it sees what the caller may see and nothing more.
//!
//! Every answer carries a Content-Security-Policy that allows nothing from other origins and no
//! inline script or style (the API reference at `/docs/` needs inline script, so it has none).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

/// No other origin, no inline script or style, no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A file of the dashboard: where it is served and what it is.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("assets/", $file)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file of the dashboard (each is also a public route of the route table).
#[rustfmt::skip]
pub const ASSETS: &[Asset] = &[
    asset!("/",                  "index.html",  HTML),
    asset!("/ui/style.css",      "style.css",   CSS),
    asset!("/ui/favicon.svg",    "favicon.svg", SVG),
    asset!("/ui/app.js",         "app.js",      JS),
    asset!("/ui/api.js",         "api.js",      JS),
    asset!("/ui/dom.js",         "dom.js",      JS),
    asset!("/ui/signin.js",      "signin.js",   JS),
    asset!("/ui/runs.js",        "runs.js",     JS),
    asset!("/ui/run.js",         "run.js",      JS),
    asset!("/ui/timeline.js",    "timeline.js", JS),
    asset!("/ui/events.js",      "events.js",   JS),
];

/// Registers a resource per asset, answering 405 (with `Allow: GET`) to other methods.
pub fn register(cfg: &mut web::ServiceConfig) {
    for asset in ASSETS {
        cfg.service(
            crate::api::resource(asset.path, "GET".to_owned())
                .route(web::get().to(move || serve(asset))),
        );
    }
}

async fn serve(asset: &'static Asset) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(asset.content_type)
        // Revalidated on each load: a new binary serves new files at the same paths.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Access, ROUTES, Serve};

    #[test]
    fn every_asset_is_a_public_route_of_the_table() {
        for asset in ASSETS {
            let route = ROUTES
                .iter()
                .find(|r| r.method == "GET" && r.path == asset.path)
                .unwrap_or_else(|| panic!("{} is not in the route table", asset.path));
            assert_eq!(route.access, Access::Public, "{route:?}");
            assert!(matches!(route.serve, Serve::Elsewhere), "{route:?}");
        }
    }

    #[test]
    fn scripts_are_files_and_nothing_comes_from_elsewhere() {
        for asset in ASSETS {
            // The SVG namespace is a name, not an address.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            for banned in [
                "http://",
                "https://",
                "eval(",
                "new Function",
                "javascript:",
            ] {
                assert!(!body.contains(banned), "{} contains {banned}", asset.path);
            }
            if asset.content_type == HTML {
                assert!(!asset.body.contains("<script>"), "no inline script");
                assert!(!asset.body.contains("style="), "no inline style");
            }
        }
    }
}
