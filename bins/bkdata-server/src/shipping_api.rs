//! Data storages (`/v3/databus/data_storages/`) and tasks (`/v3/databus/tasks/`), in BKData's
//! envelope: bind a result table to a storage cluster (the physical table is created there
//! and then), and start, stop and watch the shippers that fill it.
use crate::error::ApiError;
use crate::request::{bk_request, body, db, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bkdata_api::databus::{DataStorageRequest, TaskRequest};
use bkdata_databus::bindings::{self, Filter};
use bkdata_databus::tasks;
use bkdata_databus::DatabusError;
use bkdata_models::auth::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;

const BAD_REQUEST: &str = "1500400";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v3/databus/data_storages/",
            get(list_storages).post(create_storage),
        )
        .route(
            "/v3/databus/data_storages/{rt}/",
            get(table_storages)
                .put(update_storage)
                .delete(delete_storage),
        )
        .route("/v3/databus/tasks/", post(start_tasks))
        .route("/v3/databus/tasks/{rt}/", get(get_tasks).delete(stop_tasks))
        .route("/v3/databus/tasks/{rt}/dead_letters/", get(dead_letters))
}

fn int_param(q: &HashMap<String, String>, k: &str) -> Result<Option<i64>, ApiError> {
    match q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::from(DatabusError::field(
                k,
                format!("{k} must be an integer, got {v:?}"),
            ))
        }),
    }
}

fn str_param(q: &HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

async fn listed(st: &AppState, c: Caller, f: Filter) -> Result<Value, ApiError> {
    let rows = db(st, move |conn| bindings::list(conn, &c, &f)).await?;
    Ok(json!(rows
        .iter()
        .map(|(d, s, t, raw)| bindings::view(d, s.as_ref(), t, raw.as_deref()))
        .collect::<Vec<_>>()))
}

/// bklog's `get_config_db_list`: `raw_data_id`, `bk_biz_id` (and `storage_type`) filters.
async fn list_storages(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let f = Filter {
        raw_data_id: int_param(&q, "raw_data_id")?,
        bk_biz_id: int_param(&q, "bk_biz_id")?,
        storage_type: str_param(&q, "storage_type").or(str_param(&q, "cluster_type")),
        result_table_id: str_param(&q, "result_table_id"),
    };
    ok(listed(&st, c, f).await?)
}

async fn table_storages(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let (c2, r2) = (c.clone(), rt.clone());
    db(&st, move |conn| {
        bindings::of_table(conn, &c2, &r2, None).map(|_| ())
    })
    .await?;
    let f = Filter {
        result_table_id: Some(rt),
        storage_type: str_param(&q, "storage_type"),
        ..Filter::default()
    };
    ok(listed(&st, c, f).await?)
}

/// Check, create the physical table, save, and start the shipper if the table is live.
async fn save(
    st: &AppState,
    c: Caller,
    req: DataStorageRequest,
    at: bindings::SaveAt,
) -> Result<Value, ApiError> {
    let d = bindings::save(&st.pool, &c, req, at).await?;
    let f = Filter {
        result_table_id: Some(d.result_table_id),
        storage_type: Some(d.storage_type),
        ..Filter::default()
    };
    let list = listed(st, c, f).await?;
    Ok(list.get(0).cloned().unwrap_or(Value::Null))
}

async fn create_storage(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    ok(save(&st, c, bk_request(&bytes)?, bindings::SaveAt::New).await?)
}

async fn update_storage(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
    bytes: Bytes,
) -> BkResult {
    ok(save(&st, c, bk_request(&bytes)?, bindings::SaveAt::Table(rt)).await?)
}

/// Unbind a storage: its shipper stops; the physical table and its rows are kept.
async fn delete_storage(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let t = str_param(&q, "storage_type");
    let d = db(&st, move |conn| {
        let d = bindings::one_of_table(conn, &c, &rt, t.as_deref())?;
        bindings::delete(conn, &d)?;
        Ok::<_, DatabusError>(d)
    })
    .await?;
    ok(json!({
        "result_table_id": d.result_table_id, "storage_type": d.storage_type, "deleted": true,
        "physical_table_name": d.physical_table_name,
        "message": "the shipper is stopped; the physical table and its rows are kept",
    }))
}

async fn task_view(
    st: &AppState,
    c: Caller,
    rt: String,
) -> Result<bkdata_api::databus::TaskState, ApiError> {
    let state = db(st, move |conn| tasks::state(conn, &c, &rt)).await?;
    Ok(tasks::view(&st.bus, &state).await)
}

/// `POST tasks/ {result_table_id, storages}`: start the listed tasks (all when absent).
async fn start_tasks(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req: TaskRequest = bk_request(&bytes)?;
    let rt = req
        .result_table_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DatabusError::field("result_table_id", "result_table_id is required"))?
        .to_string();
    let list = tasks::parse_storages(req.storages.as_ref())?;
    let (c2, r2) = (c.clone(), rt.clone());
    db(&st, move |conn| tasks::start(conn, &c2, &r2, list)).await?;
    ok_as(task_view(&st, c, rt).await?)
}

async fn get_tasks(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
) -> BkResult {
    ok_as(task_view(&st, c, rt).await?)
}

/// `DELETE tasks/{rt}/`: stop the tasks (`storages`, in the query or body, picks some).
async fn stop_tasks(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> BkResult {
    let req: Value = body(&bytes, true).map_err(|e| e.bkdata(BAD_REQUEST))?;
    let list = match q.get("storages") {
        Some(s) => tasks::parse_storages(Some(&json!(s)))?,
        None => tasks::parse_storages(req.get("storages"))?,
    };
    let (c2, r2) = (c.clone(), rt.clone());
    db(&st, move |conn| tasks::stop(conn, &c2, &r2, list)).await?;
    ok_as(task_view(&st, c, rt).await?)
}

async fn dead_letters(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let limit = int_param(&q, "limit")?.unwrap_or(100).clamp(1, 1000);
    let t = str_param(&q, "storage_type");
    ok(db(&st, move |conn| {
        tasks::dead_letters(conn, &c, &rt, t.as_deref(), limit)
    })
    .await?)
}
