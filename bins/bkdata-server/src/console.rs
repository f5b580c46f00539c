//! The web console's static files (`console/dist`, built by `scripts/console.sh`), served at
//! `/` without authentication: they hold no data, and every call they make is signed like any
//! other client's. Only files directly under the folder or its `assets/` are served.
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;

use crate::AppState;

/// Paths the console answers (checked before authentication).
pub fn is_console_path(path: &str) -> bool {
    path == "/" || path == "/index.html" || path == "/favicon.svg" || path.starts_with("/assets/")
}

/// Where the built console is: `BKDATA_CONSOLE_DIR`, else `console/dist` under the working
/// directory or beside the binary (`share/console` for an installed one), else none.
pub fn find_dir() -> Option<PathBuf> {
    if let Some(d) = bkdata_models::env::var("BKDATA_CONSOLE_DIR") {
        return Some(PathBuf::from(d));
    }
    let mut candidates = vec![PathBuf::from("console/dist")];
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        candidates.push(exe_dir.join("console"));
        candidates.push(exe_dir.join("../share/bkdata/console"));
        // target/{debug,release}/ in a checkout.
        candidates.push(exe_dir.join("../../console/dist"));
    }
    candidates
        .into_iter()
        .find(|d| d.join("index.html").is_file())
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

async fn file(state: &AppState, rel: &str, immutable: bool) -> Response {
    let Some(dir) = state.config.console_dir.as_ref() else {
        return (
            StatusCode::NOT_FOUND,
            "the console is not built: run scripts/console.sh (or set BKDATA_CONSOLE_DIR)",
        )
            .into_response();
    };
    // One plain file name: no separators, no dot-dot, nothing hidden.
    let ok = rel
        .split('/')
        .all(|p| !p.is_empty() && !p.starts_with('.') && !p.contains('\\'));
    if !ok {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dir.join(rel)).await {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(rel)),
            );
            // Vite names assets by content hash: they never change under one name.
            let cache = if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            r
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn index(State(st): State<AppState>) -> Response {
    file(&st, "index.html", false).await
}

pub async fn favicon(State(st): State<AppState>) -> Response {
    file(&st, "favicon.svg", false).await
}

pub async fn asset(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    if name.contains('/') {
        return StatusCode::NOT_FOUND.into_response();
    }
    file(&st, &format!("assets/{name}"), true).await
}
