//! BKData databus endpoints (`/v3/databus/…`, `/v4/databus/…`) in BKData's envelope. So far the
//! ones that need only the clean engine: verify, time formats, and bklog's v4 debug.
use crate::error::ApiError;
use crate::request::body;
use crate::AppState;
use axum::body::Bytes;
use axum::routing::{get, post};
use axum::{Json, Router};
use bkdata_api::BkEnvelope;
use bkdata_databus::etl;
use serde::Deserialize;
use serde_json::{json, Value};

/// BKData's "clean verify failed" (module 70, databus-api).
const CLEAN_VERIFY_FAILED: &str = "1570001";
const BAD_REQUEST: &str = "1500400";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/databus/cleans/verify/", post(verify))
        .route("/v3/databus/cleans/time_formats/", get(time_formats))
        .route("/v4/databus/clean/debug/", post(debug_v4))
}

#[derive(Deserialize)]
struct VerifyRequest {
    /// The json_config: a JSON string as BKData sends it, or an object.
    conf: Value,
    msg: String,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn verify(bytes: Bytes) -> Result<Json<BkEnvelope>, ApiError> {
    let req: VerifyRequest = body(&bytes, false).map_err(|e| e.bkdata(BAD_REQUEST))?;
    let conf = match req.conf {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let out = tokio::task::spawn_blocking(move || etl::verify(&conf, &req.msg, now_ms()))
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            )
            .bkdata("1500500")
        })?;
    match out {
        Ok(data) => Ok(Json(BkEnvelope::ok(data))),
        Err(e) => Err(
            ApiError::validation(format!("clean config is invalid: {e}"))
                .details(json!({"conf": [e.0]}))
                .bkdata(CLEAN_VERIFY_FAILED),
        ),
    }
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
