//! `/healthz` and `/metrics` (Prometheus text), both open without credentials.
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    requests: AtomicU64,
    by_class: [AtomicU64; 6],
}

impl Metrics {
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_status(&self, s: StatusCode) {
        let class = (s.as_u16() / 100).min(5) as usize;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn healthz(State(st): State<AppState>) -> Response {
    let db = bkdata_models::db::call(&st.pool, bkdata_models::db::ping)
        .await
        .map_err(|e| format!("{e:#}"));
    match db {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok"})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": e})),
        )
            .into_response(),
    }
}

pub async fn prometheus(State(st): State<AppState>) -> Response {
    let m = &st.metrics;
    let mut out = String::new();
    out.push_str("# HELP bkdata_http_requests_total HTTP requests received.\n# TYPE bkdata_http_requests_total counter\n");
    out.push_str(&format!(
        "bkdata_http_requests_total {}\n",
        m.requests.load(Ordering::Relaxed)
    ));
    out.push_str("# HELP bkdata_http_responses_total Responses by status class.\n# TYPE bkdata_http_responses_total counter\n");
    for (i, c) in m.by_class.iter().enumerate().skip(1) {
        out.push_str(&format!(
            "bkdata_http_responses_total{{class=\"{i}xx\"}} {}\n",
            c.load(Ordering::Relaxed)
        ));
    }
    let db = bkdata_models::db::call(&st.pool, |c| {
        let q = bkdata_models::jobs::queue_stats(c)?;
        let tasks = bkdata_models::pipeline::task_counts(c)?;
        Ok::<_, anyhow::Error>((q, tasks))
    })
    .await;
    match db {
        Ok((q, tasks)) => {
            out.push_str(
                "# HELP bkdata_jobs Background jobs by status.\n# TYPE bkdata_jobs gauge\n",
            );
            for (s, n) in [
                ("queued", q.queued),
                ("running", q.running),
                ("failed", q.failed),
            ] {
                out.push_str(&format!("bkdata_jobs{{status=\"{s}\"}} {n}\n"));
            }
            out.push_str("# HELP bkdata_pipeline_tasks Pipeline tasks by status.\n# TYPE bkdata_pipeline_tasks gauge\n");
            for (s, n) in tasks {
                out.push_str(&format!("bkdata_pipeline_tasks{{status=\"{s}\"}} {n}\n"));
            }
            out.push_str("bkdata_up 1\n");
        }
        _ => out.push_str("bkdata_up 0\n"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
