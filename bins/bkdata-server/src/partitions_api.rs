//! Partitions of raw data, result tables and cleans, as BKData's databus answers them:
//! GET `…/partitions/` is the count, POST `…/set_partitions/ {partitions}` raises it (and
//! starts the new partitions' jobs of what runs).
use crate::request::{bk_request, db, id_of, ok, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bkdata_api::databus::SetPartitionsRequest;
use bkdata_databus::partitions::{self, Raised};
use bkdata_databus::DatabusError;
use bkdata_models::auth::Caller;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/databus/rawdatas/{id}/partitions/", get(raw_count))
        .route("/v3/databus/rawdatas/{id}/set_partitions/", post(set_raw))
        .route(
            "/v3/databus/result_tables/{rt}/partitions/",
            get(table_count),
        )
        .route(
            "/v3/databus/result_tables/{rt}/set_partitions/",
            post(set_table),
        )
        .route("/v3/databus/cleans/{pid}/partitions/", get(table_count))
        .route("/v3/databus/cleans/{pid}/set_partitions/", post(set_table))
}

fn requested(bytes: &Bytes) -> Result<i64, crate::error::ApiError> {
    let req: SetPartitionsRequest = bk_request(bytes)?;
    Ok(req.partitions.ok_or_else(|| {
        DatabusError::field("partitions", "partitions is required (a positive integer)")
    })?)
}

/// Make the raised topics' streams now, so producers publishing to a new partition's subject
/// directly have a stream to keep what they send (a failure is logged: the partition's jobs
/// make the stream when they start).
async fn answer(st: &AppState, raised: Raised) -> BkResult {
    for t in raised.partition_topics() {
        if let Err(e) = st.bus.ensure_topic(&t).await {
            log::warn!("partition topic {t} not made yet: {e}");
        }
    }
    ok(json!(raised.partitions))
}

async fn raw_count(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("raw data", &id)?;
    ok(json!(
        db(&st, move |conn| partitions::of_raw(conn, &c, id)).await?
    ))
}

async fn set_raw(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("raw data", &id)?;
    let n = requested(&bytes)?;
    let raised = db(&st, move |conn| partitions::set_raw(conn, &c, id, n)).await?;
    answer(&st, raised).await
}

async fn table_count(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    ok(json!(
        db(&st, move |conn| partitions::of_table(conn, &c, &id)).await?
    ))
}

async fn set_table(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let n = requested(&bytes)?;
    let raised = db(&st, move |conn| partitions::set_table(conn, &c, &id, n)).await?;
    answer(&st, raised).await
}
