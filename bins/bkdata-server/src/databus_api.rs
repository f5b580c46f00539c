//! BKData databus endpoints (`/v3/databus/…`, `/v4/databus/…`) in BKData's envelope: cleans
//! (CRUD, verify, time formats), bklog's v4 debug, and result tables.
use crate::error::ApiError;
use crate::request::{bk_request, body, db, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bkdata_api::databus::{CleanRequest, VerifyRequest};
use bkdata_api::BkEnvelope;
use bkdata_databus::etl;
use bkdata_databus::{clean, DatabusError};
use bkdata_models::auth::Caller;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::HashMap;

/// BKData's "clean verify failed" (module 70, databus-api).
const CLEAN_VERIFY_FAILED: &str = "1570001";
const BAD_REQUEST: &str = "1500400";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/databus/cleans/", get(list_cleans).post(create_clean))
        .route(
            "/v3/databus/cleans/{pid}/",
            get(get_clean).put(update_clean).delete(delete_clean),
        )
        .route("/v3/databus/cleans/{pid}/start/", post(start_clean))
        .route("/v3/databus/cleans/{pid}/stop/", post(stop_clean))
        .route("/v3/databus/cleans/list_errors/", get(list_errors))
        .route(
            "/v3/databus/result_tables/{rt}/tail/",
            get(result_table_tail),
        )
        .route("/v3/databus/result_tables/{rt}/", get(get_result_table))
        .route("/v3/databus/cleans/verify/", post(verify))
        .route("/v3/databus/cleans/time_formats/", get(time_formats))
        .route("/v3/databus/cleans/etl_template/", post(etl_template))
        .route("/v4/databus/clean/debug/", post(debug_v4))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn verify(bytes: Bytes) -> Result<Json<BkEnvelope<Box<RawValue>>>, ApiError> {
    let req: VerifyRequest = bk_request(&bytes)?;
    let msg = req.msg.ok_or_else(|| {
        ApiError::from(DatabusError::field(
            "msg",
            "msg is required (a sample message)",
        ))
    })?;
    let conf = match req.conf.unwrap_or(Value::Null) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let out = tokio::task::spawn_blocking(move || etl::verify(&conf, &msg, now_ms()))
        .await
        .map_err(|e| ApiError::from(e).bkdata("1500500"))?;
    match out {
        // The answer is built as JSON text: its numbers keep every digit (a bigint's too).
        Ok(data) => RawValue::from_string(data)
            .map(|raw| Json(BkEnvelope::ok(raw)))
            .map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    format!("verify answer: {e}"),
                )
                .bkdata("1500500")
            }),
        Err(e) => Err(
            ApiError::validation(format!("clean config is invalid: {e}"))
                .details(json!({"conf": [e.0]}))
                .bkdata(CLEAN_VERIFY_FAILED),
        ),
    }
}

/// `POST cleans/etl_template/ {etl_config, etl_params, fields}`: the `json_config` bklog builds
/// for one of its four ETL types, and the result table fields it makes, so a form can start a
/// clean the way bklog does.
async fn etl_template(bytes: Bytes) -> BkResult {
    use bkdata_databus::etl::bklog::{self, BklogField, EtlParams};
    #[derive(serde::Deserialize)]
    struct Req {
        etl_config: Option<String>,
        #[serde(default)]
        etl_params: Option<EtlParams>,
        #[serde(default)]
        fields: Vec<BklogField>,
    }
    let req: Req = bk_request(&bytes)?;
    let etl_config = req.etl_config.filter(|s| !s.is_empty()).ok_or_else(|| {
        DatabusError::field(
            "etl_config",
            format!(
                "etl_config is required: one of {}",
                bklog::ETL_TYPES.join(", ")
            ),
        )
    })?;
    let params = req.etl_params.unwrap_or_default();
    let config = bklog::json_config(&etl_config, &params, &req.fields)
        .map_err(|e| DatabusError::field("etl_config", e.0))?;
    let plan = etl::CleanPlan::compile_value(config.clone())
        .map_err(|e| DatabusError::field("fields", e.0))?;
    let fields: Vec<Value> = plan
        .schema()
        .iter()
        .filter(|f| f.display == "user_field")
        .enumerate()
        .map(|(i, f)| {
            json!({"field_name": f.name, "field_type": f.field_type.name(), "field_alias": f.name,
                   "is_dimension": false, "field_index": i + 1})
        })
        .collect();
    ok(json!({"json_config": config.to_string(), "fields": fields}))
}

async fn time_formats() -> Json<BkEnvelope> {
    let list: Vec<Value> = etl::time::time_formats()
        .into_iter()
        .map(|(name, alias, example, len)| {
            json!({"time_format_name": name, "time_format_alias": alias, "time_format_example": example, "timestamp_len": len})
        })
        .collect();
    Json(BkEnvelope::ok(json!(list)))
}

async fn debug_v4(bytes: Bytes) -> Result<Json<BkEnvelope>, ApiError> {
    let req: Value = body(&bytes, false).map_err(|e| e.bkdata(BAD_REQUEST))?;
    etl::v4::debug(&req)
        .map(|d| Json(BkEnvelope::ok(d)))
        .map_err(|e| {
            ApiError::validation(e.0.clone())
                .details(json!({"rules": [e.0]}))
                .bkdata(CLEAN_VERIFY_FAILED)
        })
}

fn int_query(q: &HashMap<String, String>, k: &str) -> Result<Option<i64>, ApiError> {
    match q.get(k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::from(DatabusError::field(k, format!("{k} must be an integer")))),
    }
}

async fn list_cleans(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let (raw, biz) = (int_query(&q, "raw_data_id")?, int_query(&q, "bk_biz_id")?);
    let rows = db(&st, move |conn| clean::list(conn, &c, raw, biz)).await?;
    ok(json!(rows
        .iter()
        .map(|(x, t)| clean::view(x, t))
        .collect::<Vec<_>>()))
}

async fn create_clean(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req: CleanRequest = bk_request(&bytes)?;
    let (x, t) = db(&st, move |conn| clean::create(conn, &c, &req)).await?;
    // The view names the result table already (bklog reads `result_table_id`).
    ok_as(clean::view(&x, &t))
}

async fn get_clean(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(pid): Path<String>,
) -> BkResult {
    let (x, t) = db(&st, move |conn| clean::get(conn, &c, &pid)).await?;
    ok_as(clean::view(&x, &t))
}

async fn update_clean(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(pid): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let req: CleanRequest = bk_request(&bytes)?;
    let (x, t) = db(&st, move |conn| clean::update(conn, &c, &pid, &req)).await?;
    ok_as(clean::view(&x, &t))
}

async fn delete_clean(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(pid): Path<String>,
) -> BkResult {
    let p = pid.clone();
    db(&st, move |conn| clean::delete(conn, &c, &p)).await?;
    ok(json!({"processing_id": pid, "deleted": true}))
}

async fn get_result_table(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let t = db(&st, move |conn| clean::result_table(conn, &c, &id)).await?;
    ok_as(clean::result_table_view(&t))
}

async fn start_clean(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(pid): Path<String>,
) -> BkResult {
    let (x, t) = db(&st, move |conn| clean::start(conn, &c, &pid)).await?;
    ok_as(clean::view(&x, &t))
}

async fn stop_clean(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(pid): Path<String>,
) -> BkResult {
    let (x, t) = db(&st, move |conn| clean::stop(conn, &c, &pid)).await?;
    ok_as(clean::view(&x, &t))
}

async fn list_errors(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let pid = q
        .get("processing_id")
        .cloned()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ApiError::from(DatabusError::field(
                "processing_id",
                "processing_id is required",
            ))
        })?;
    let limit = int_query(&q, "limit")?
        .unwrap_or(50)
        .clamp(1, bkdata_databus::clean_job::ERROR_SAMPLES);
    let list = db(&st, move |conn| clean::list_errors(conn, &c, &pid, limit)).await?;
    ok(list)
}

async fn result_table_tail(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let limit = int_query(&q, "limit")?.unwrap_or(10);
    if !(1..=1000).contains(&limit) {
        return Err(DatabusError::field("limit", "limit must be between 1 and 1000").into());
    }
    let rt_id = id.clone();
    let table = db(&st, move |conn| clean::result_table(conn, &c, &rt_id)).await?;
    let rows = bkdata_databus::partitions::tail(
        &st.bus,
        &bkdata_databus::clean_job::output_topic(&id),
        table.partitions,
        limit as usize,
    )
    .await
    .map_err(|e| {
        ApiError::from(DatabusError::Unavailable {
            message: format!("the bus is unavailable: {e}"),
            details: json!({}),
        })
    })?;
    ok(json!(rows
        .iter()
        .map(|r| serde_json::from_slice::<Value>(r).unwrap_or(Value::Null))
        .collect::<Vec<_>>()))
}
