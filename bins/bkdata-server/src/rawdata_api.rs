//! Raw data (`/v3/access/rawdata/`, BKData's `/v3/access/deploy_plan/`), HTTP ingest onto the
//! bus (`/v3/databus/rawdatas/{id}/ingest/`) and tail (`/v3/databus/rawdatas/{id}/tail/`).
use crate::error::ApiError;
use crate::request::{bk_request, db, id_of, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bkdata_api::databus::RawDataRequest;
use bkdata_databus::rawdata::{self, IngestLimits};
use bkdata_databus::DatabusError;
use bkdata_models::auth::Caller;
use serde_json::json;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/access/rawdata/", post(create).get(list))
        .route("/v3/access/deploy_plan/", post(create))
        .route(
            "/v3/access/deploy_plan/{id}/",
            get(deploy_plan).put(update_deploy_plan),
        )
        .route("/v3/access/collectorhub/{id}/stop/", post(stop_collector))
        .route("/v3/access/collectorhub/{id}/start/", post(start_collector))
        .route("/v3/access/rawdata/{id}/", get(read).delete(remove))
        .route("/v3/databus/rawdatas/{id}/ingest/", post(ingest))
        .route("/v3/databus/rawdatas/{id}/tail/", get(tail))
}

pub fn is_ingest_path(path: &str) -> bool {
    path.starts_with("/v3/databus/rawdatas/") && path.ends_with("/ingest/")
}

async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req: RawDataRequest = bk_request(&bytes)?;
    let row = db(&st, move |conn| rawdata::create(conn, &c, &req)).await?;
    // Its streams now, so a producer may publish to a partition's subject straight away.
    for k in 0..row.partitions as u32 {
        let t = bkdata_bus::partition_topic(&rawdata::topic(row.id), k);
        if let Err(e) = st.bus.ensure_topic(&t).await {
            log::warn!("raw data {}: stream of {t} not made yet: {e}", row.id);
        }
    }
    ok_as(rawdata::view(&row, st.bus.subject(&rawdata::topic(row.id))))
}

/// bklog's `get_deploy_summary`: 1500004 in the envelope when absent (bklog then creates it).
async fn deploy_plan(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("raw data", &id)?;
    let row = db(&st, move |conn| rawdata::get(conn, &c, id)).await?;
    ok_as(rawdata::deploy_plan_view(
        &row,
        st.bus.subject(&rawdata::topic(row.id)),
    ))
}

async fn update_deploy_plan(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("raw data", &id)?;
    let req: RawDataRequest = bk_request(&bytes)?;
    let row = db(&st, move |conn| rawdata::update(conn, &c, id, &req)).await?;
    ok(json!({"raw_data_id": row.id}))
}

async fn stop_collector(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    collector(st, c, id, false).await
}

async fn start_collector(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    collector(st, c, id, true).await
}

async fn collector(st: AppState, c: Caller, id: String, started: bool) -> BkResult {
    let id = id_of("raw data", &id)?;
    let row = db(&st, move |conn| {
        rawdata::set_collector(conn, &c, id, started)
    })
    .await?;
    ok(json!({"raw_data_id": row.id, "status": row.collector_status.as_str()}))
}

async fn list(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let biz = match q.get("bk_biz_id").filter(|s| !s.is_empty()) {
        None => None,
        Some(b) => Some(b.parse().map_err(|_| {
            ApiError::from(DatabusError::field(
                "bk_biz_id",
                "bk_biz_id must be an integer",
            ))
        })?),
    };
    let rows = db(&st, move |conn| rawdata::list(conn, &c, biz)).await?;
    ok(json!(rows
        .iter()
        .map(|r| rawdata::view(r, st.bus.subject(&rawdata::topic(r.id))))
        .collect::<Vec<_>>()))
}

async fn read(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("raw data", &id)?;
    let row = db(&st, move |conn| rawdata::get(conn, &c, id)).await?;
    ok_as(rawdata::view(&row, st.bus.subject(&rawdata::topic(row.id))))
}

async fn remove(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("raw data", &id)?;
    let partitions = db(&st, move |conn| {
        let n = rawdata::get(conn, &c, id)?.partitions;
        rawdata::delete(conn, &c, id).map(|_| n)
    })
    .await?;
    // The records go with it; the row is already gone, so a bus failure only leaves a stream
    // behind, which is logged.
    for k in 0..partitions as u32 {
        let t = bkdata_bus::partition_topic(&rawdata::topic(id), k);
        if let Err(e) = st.bus.delete_topic(&t).await {
            log::warn!("raw data {id} deleted, but its bus topic {t} was not: {e}");
        }
    }
    ok(json!({"raw_data_id": id, "deleted": true}))
}

async fn ingest(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("raw data", &id)?;
    let row = db(&st, move |conn| rawdata::get(conn, &c, id)).await?;
    if row.collector_status != bkdata_models::states::CollectorStatus::Started {
        return Err(DatabusError::field(
            "raw_data_id",
            format!(
                "the collector of raw data {id} is stopped: POST access/collectorhub/{id}/start/ \
                 before sending records"
            ),
        )
        .into());
    }
    let limits = IngestLimits {
        max_bytes: (st.config.max_ingest_bytes as u64).max(1) * 4,
        max_records: st.config.max_ingest_records,
        ..Default::default()
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let records =
        tokio::task::spawn_blocking(move || rawdata::parse_records(&bytes, gzip, &limits))
            .await
            .map_err(|e| ApiError::from(e).bkdata("1500500"))??;
    let result = rawdata::publish(&st.bus, &row, &records, &limits).await;
    // Count what the bus accepted, even when a later batch failed.
    let accepted = match &result {
        Ok(v) => v["records"].as_u64().unwrap_or(0),
        Err(DatabusError::Unavailable { details, .. }) => {
            details["accepted_records"].as_u64().unwrap_or(0)
        }
        Err(_) => 0,
    } as usize;
    if accepted > 0 {
        db(&st, move |conn| rawdata::count_ingested(conn, id, accepted)).await?;
    }
    let mut report = result?;
    report["subject"] = json!(st.bus.subject(&rawdata::topic(id)));
    ok(report)
}

async fn tail(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let id = id_of("raw data", &id)?;
    let limit: usize = match q.get("limit") {
        None => 10,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::from(DatabusError::field(
                    "limit",
                    "limit must be between 1 and 1000",
                ))
            })?,
    };
    let row = db(&st, move |conn| rawdata::get(conn, &c, id)).await?;
    let records =
        bkdata_databus::partitions::tail(&st.bus, &rawdata::topic(id), row.partitions, limit)
            .await
            .map_err(|e| {
                ApiError::from(DatabusError::Unavailable {
                    message: format!("the bus is unavailable: {e}"),
                    details: json!({}),
                })
            })?;
    ok(json!(records
        .into_iter()
        .map(|r| json!({"value": String::from_utf8_lossy(&r)}))
        .collect::<Vec<_>>()))
}
