//! `/api/v0/data_pipeline/`: the data pipeline task API of seed 002.
use crate::error::{ApiError, PipelineApiError};
use crate::request::body;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bkdata_api::pipeline::{BusinessDatabaseList, TrainingItem, TrainingSearch};
use bkdata_api::PipelineEnvelope;
use bkdata_pipeline::{Caller, PipelineError, Service};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tasks", post(create_task).get(list_tasks))
        .route("/tasks/{task_id}", get(task_status))
        .route("/tasks/{task_id}/execute", post(execute))
        .route("/tasks/{task_id}/cancel", post(cancel))
        .route("/tasks/{task_id}/executions", get(executions))
        .route("/tasks/{task_id}/logs", get(logs))
        .route("/tasks/{task_id}/files", get(list_files))
        .route(
            "/tasks/{task_id}/upload-table-list",
            post(upload_table_list),
        )
        .route("/tasks/{task_id}/files/archive", post(archive))
        .route("/tasks/{task_id}/files/integrity", get(integrity))
        .route("/tasks/{task_id}/files/download/{file_name}", get(download))
        // The seed's short form: GET tasks/{id}/files/{name}.
        .route("/tasks/{task_id}/files/{file_name}", get(download))
        .route("/files/cleanup", post(cleanup))
        .route("/monitor/status", get(monitor_status))
        .route("/monitor/tasks/{task_id}", get(monitor_task))
        .route("/monitor/metrics/history", get(metrics_history))
        .route("/monitor/anomalies", get(anomalies))
        .route("/stats", get(stats))
        .route("/training_data", get(training_data))
        .route("/databases", get(databases))
}

type ApiResult = Result<Response, PipelineApiError>;

/// Run a service call on the blocking pool.
async fn call<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Service) -> Result<T, PipelineError> + Send + 'static,
) -> Result<T, ApiError> {
    let svc = state.service.clone();
    Ok(tokio::task::spawn_blocking(move || f(&svc)).await??)
}

fn ok<T: Serialize>(status: StatusCode, message: &str, data: T) -> Response {
    (
        status,
        Json(PipelineEnvelope::ok(status.as_u16(), message, data)),
    )
        .into_response()
}

fn int_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::validation(format!("{name} must be an integer, got {v:?}"))
                    .details(json!({"field": name, "value": v}))
            })
        })
        .transpose()
}

async fn create_task(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let req = body(&bytes, false)?;
    let data = call(&st, move |s| s.create_task(&c, req)).await?;
    Ok(ok(StatusCode::CREATED, "任务创建成功", data))
}

async fn list_tasks(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit = int_param(&q, "limit")?;
    let status = q.get("status").cloned().filter(|s| !s.is_empty());
    let data = call(&st, move |s| s.list(&c, limit, status.as_deref())).await?;
    Ok(ok(StatusCode::OK, "获取任务列表成功", data))
}

async fn task_status(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let data = call(&st, move |s| s.status(&c, &id)).await?;
    Ok(ok(StatusCode::OK, "获取任务状态成功", data))
}

async fn execute(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let req = body(&bytes, true)?;
    let data = call(&st, move |s| s.execute(&c, &id, req)).await?;
    Ok(ok(StatusCode::ACCEPTED, "任务执行已启动", data))
}

async fn cancel(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let data = call(&st, move |s| s.cancel(&c, &id)).await?;
    Ok(ok(StatusCode::OK, "任务取消请求已提交", data))
}

async fn executions(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let data = call(&st, move |s| s.executions(&c, &id)).await?;
    Ok(ok(StatusCode::OK, "获取执行记录成功", data))
}

async fn logs(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let limit = int_param(&q, "limit")?;
    let level = q.get("level").cloned().filter(|s| !s.is_empty());
    let data = call(&st, move |s| s.logs(&c, &id, limit, level.as_deref())).await?;
    Ok(ok(StatusCode::OK, "获取任务日志成功", data))
}

async fn list_files(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let data = call(&st, move |s| s.list_files(&c, &id)).await?;
    Ok(ok(StatusCode::OK, "获取文件列表成功", data))
}

async fn download(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult {
    let n = name.clone();
    let path = call(&st, move |s| s.file_path(&c, &id, &n)).await?;
    // Streamed: archives can be large.
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::from(PipelineError::from(e)))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::from(PipelineError::from(e)))?
        .len();
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        name.replace(['"', '\\'], "_"),
        urlencoding::encode(&name)
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                bkdata_pipeline::files::content_type(&name).to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}

async fn archive(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let req = body(&bytes, true)?;
    let data = call(&st, move |s| s.archive(&c, &id, req)).await?;
    Ok(ok(StatusCode::OK, "压缩包创建成功", data))
}

async fn integrity(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let data = call(&st, move |s| s.integrity(&c, &id)).await?;
    Ok(ok(StatusCode::OK, "文件完整性验证完成", data))
}

async fn cleanup(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let req = body(&bytes, true)?;
    let data = call(&st, move |s| s.cleanup(&c, req)).await?;
    Ok(ok(StatusCode::OK, "文件清理完成", data))
}

async fn monitor_status(State(st): State<AppState>, Extension(c): Extension<Caller>) -> ApiResult {
    let data = call(&st, move |s| s.system_status(&c)).await?;
    Ok(ok(StatusCode::OK, "获取系统状态成功", data))
}

async fn monitor_task(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let data = call(&st, move |s| s.task_monitor(&c, &id)).await?;
    Ok(ok(StatusCode::OK, "获取任务监控成功", data))
}

async fn metrics_history(
    State(st): State<AppState>,
    Extension(_c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let minutes = int_param(&q, "minutes")?;
    let data = call(&st, move |s| s.metrics_history(minutes)).await?;
    Ok(ok(StatusCode::OK, "获取历史性能数据成功", data))
}

async fn anomalies(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let hours = int_param(&q, "hours")?;
    let data = call(&st, move |s| s.anomalies(&c, hours)).await?;
    Ok(ok(StatusCode::OK, "获取异常记录成功", data))
}

async fn stats(State(st): State<AppState>, Extension(c): Extension<Caller>) -> ApiResult {
    let data = call(&st, move |s| s.stats(&c)).await?;
    Ok(ok(StatusCode::OK, "获取统计信息成功", data))
}

/// `GET training_data?q=&type=&limit=&db_name=`: the caller's training items closest to `q`.
async fn training_data(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let text = q.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    if text.is_empty() {
        return Err(
            ApiError::validation("q is required (the text to search for)")
                .details(json!({"field": "q"}))
                .into(),
        );
    }
    let ty = q.get("type").filter(|t| !t.is_empty()).cloned();
    if let Some(t) = &ty {
        if !bkdata_training::store::TYPES.contains(&t.as_str()) {
            return Err(ApiError::validation(format!(
                "type must be one of {} (got {t:?})",
                bkdata_training::store::TYPES.join(", ")
            ))
            .details(json!({"field": "type"}))
            .into());
        }
    }
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        None => 10,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                ApiError::validation("limit must be an integer from 1 to 100")
                    .details(json!({"field": "limit"}))
            })?,
    };
    let db_name = q.get("db_name").filter(|d| !d.is_empty()).cloned();
    let pool = st.pool.clone();
    let hits = tokio::task::spawn_blocking(move || {
        let mut conn = pool
            .get()
            .map_err(|e| PipelineError::unavailable(e.to_string()))?;
        bkdata_training::store::search(
            &mut conn,
            &c.app_code,
            &text,
            ty.as_deref(),
            db_name.as_deref(),
            limit,
        )
        .map_err(|e| PipelineError::Internal(e.to_string()))
    })
    .await??;
    let items: Vec<TrainingItem> = hits
        .into_iter()
        .map(|h| TrainingItem {
            id: h.id,
            data_type: h.data_type,
            db_name: h.db_name,
            question: h.question,
            content: h.content,
            score: (h.score * 10_000.0).round() / 10_000.0,
            task_id: h.task_id,
            source_file: h.source_file,
        })
        .collect();
    Ok(ok(
        StatusCode::OK,
        "获取训练数据成功",
        TrainingSearch {
            total: items.len(),
            items,
        },
    ))
}

/// `GET databases`: the business databases tasks may name (`db_name`), without secrets.
async fn databases(State(st): State<AppState>) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        "获取业务数据库成功",
        BusinessDatabaseList {
            databases: st.config.business_dbs.views(),
        },
    ))
}

/// `POST tasks/{id}/upload-table-list`: the table list as a multipart `file` field or as the
/// raw body; checked (one `schema.table` a line, at least one) before it is saved.
async fn upload_table_list(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(task_id): Path<String>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let content = if ctype.starts_with("multipart/form-data") {
        multipart_file(ctype, &bytes)?
    } else {
        bytes.to_vec()
    };
    let text = std::str::from_utf8(&content).map_err(|_| {
        ApiError::validation("the table list is not UTF-8 text").details(json!({"field": "file"}))
    })?;
    let tables = bkdata_training::catalog::parse_table_list(text)
        .map_err(|e| ApiError::validation(e.to_string()).details(json!({"field": "file"})))?;
    if tables.is_empty() {
        return Err(ApiError::validation(
            "the table list names no tables (one schema.table a line; # starts a comment)",
        )
        .details(json!({"field": "file"}))
        .into());
    }
    let n = tables.len();
    let mut data = call(&st, move |s| s.save_table_list(&c, &task_id, &content)).await?;
    data["tables"] = json!(n);
    Ok(ok(StatusCode::OK, "表清单上传成功", data))
}

/// The `file` field of a multipart/form-data body (curl `-F file=@tables.txt`).
fn multipart_file(ctype: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let bad = |m: &str| ApiError::validation(m.to_string()).details(json!({"field": "file"}));
    let boundary = ctype
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("multipart body without a boundary"))?;
    let delim = format!("--{boundary}");
    let text = body;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut at =
        find(text, delim.as_bytes(), 0).ok_or_else(|| bad("multipart body without parts"))?;
    loop {
        let start = at + delim.len();
        if text.get(start..start + 2) == Some(b"--") {
            break;
        }
        let head_end = find(text, b"\r\n\r\n", start)
            .ok_or_else(|| bad("a multipart part without headers"))?;
        let head = String::from_utf8_lossy(&text[start..head_end]).to_ascii_lowercase();
        let next = find(text, format!("\r\n{delim}").as_bytes(), head_end + 4)
            .ok_or_else(|| bad("an unterminated multipart part"))?;
        if head.contains("name=\"file\"") {
            return Ok(text[head_end + 4..next].to_vec());
        }
        at = next + 2;
    }
    Err(bad("the multipart body has no `file` field"))
}
