//! The alert path's API (`/v3/alert/…`, BKData envelope): event ingest, alert search, an
//! alert's events and logs, close and acknowledge.
use crate::error::ApiError;
use crate::request::{bk_body, db, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bkdata_alert::store::AlertError;
use bkdata_alert::{api, job, store};
use bkdata_models::auth::Caller;
use serde_json::json;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/alert/events/", post(ingest))
        .route("/v3/alert/alerts/", get(search))
        .route("/v3/alert/alerts/{id}/", get(read))
        .route("/v3/alert/alerts/{id}/events/", get(events))
        .route("/v3/alert/alerts/{id}/logs/", get(logs))
        .route("/v3/alert/alerts/{id}/close/", post(close))
        .route("/v3/alert/alerts/{id}/ack/", post(ack))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `POST events/`: `{"events": [...]}` (or the list itself). Each bad event is answered with
/// its index and reason; the others are handed to the builders through the bus (stored there
/// when this answers) and the builder is queued.
async fn ingest(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let max = st.config.alert_max_events;
    let app = c.app_code.clone();
    // Parsing and cleaning a large batch is CPU work: on the blocking pool, with the check
    // for events already stored.
    let (report, fresh) = db(&st, move |conn| {
        let events = store::batch_of(&bytes)?;
        let accepted = store::accept(conn, &app, &events, max, now())?;
        if !accepted.1.is_empty() {
            job::schedule(conn)?;
        }
        Ok::<_, AlertError>(accepted)
    })
    .await?;
    job::publish(&st.bus, &fresh).await.map_err(|e| {
        ApiError::from(bkdata_databus::DatabusError::Unavailable {
            message: format!("the bus did not take the events, none were accepted: {e:#}"),
            details: json!({}),
        })
    })?;
    ok_as(report)
}

async fn search(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<api::Search>,
) -> BkResult {
    ok_as(db(&st, move |conn| api::search(conn, &c.app_code, &q)).await?)
}

async fn read(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    ok_as(db(&st, move |conn| api::get(conn, &c.app_code, &id)).await?)
}

async fn events(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(1000)
        .clamp(1, 10_000);
    ok(json!(
        db(&st, move |conn| api::events(conn, &c.app_code, &id, limit)).await?
    ))
}

async fn logs(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    ok_as(db(&st, move |conn| api::logs(conn, &c.app_code, &id)).await?)
}

fn message(bytes: &Bytes) -> Result<String, ApiError> {
    let v = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        bk_body(bytes)?
    };
    Ok(v["message"].as_str().unwrap_or("").to_string())
}

async fn close(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    act(st, c, id, api::Action::Close, &bytes).await
}

async fn ack(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    act(st, c, id, api::Action::Ack, &bytes).await
}

/// An operator's action (`{message}`), recorded with the caller's username.
async fn act(st: AppState, c: Caller, id: String, action: api::Action, bytes: &Bytes) -> BkResult {
    let m = message(bytes)?;
    ok_as(
        db(&st, move |conn| {
            let a = api::act(conn, &c.app_code, &id, action, &c.username, &m, now())?;
            job::schedule(conn)?;
            Ok::<_, AlertError>(a)
        })
        .await?,
    )
}
