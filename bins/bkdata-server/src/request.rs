//! Request parsing and the BKData handler helpers shared by the APIs.
use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::Json;
use bkdata_api::BkEnvelope;
use bkdata_databus::DatabusError;
use bkdata_models::PgConnection;
use serde::de::DeserializeOwned;
use serde_json::json;
use serde_json::Value;

/// Parse a JSON body into `T`; an empty body reads as `{}` when `empty_ok`.
pub fn body<T: DeserializeOwned>(bytes: &Bytes, empty_ok: bool) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        if !empty_ok {
            return Err(ApiError::validation(
                "request body is required (a JSON object)",
            ));
        }
        b"{}"
    } else {
        bytes
    };
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("request body is not valid JSON: {e}"),
        )
        .details(json!({"line": e.line(), "column": e.column()}))
    })?;
    if !value.is_object() {
        return Err(ApiError::validation("request body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_default();
        ApiError::validation(format!("invalid request: {msg}")).details(json!({"field": field}))
    })
}

/// A JSON object body of a BKData call; errors in BKData's envelope.
pub fn bk_body(bytes: &Bytes) -> Result<serde_json::Value, ApiError> {
    body(bytes, false).map_err(|e| e.bkdata("1500400"))
}

/// A BKData request body of a shared wire type (`bkdata_api`); a field of the wrong type is
/// named in `errors`, in BKData's envelope.
pub fn bk_request<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let v = bk_body(bytes)?;
    serde_path_to_error::deserialize(v).map_err(|e| {
        // `errors` is keyed by the top-level field (as BKData's are); the message has the path.
        let top = match e.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => key.clone(),
            _ => e.path().to_string(),
        };
        ApiError::from(DatabusError::field(
            &top,
            format!("{}: {}", e.path(), e.inner()),
        ))
    })
}

/// A numeric id from the path; anything else names a `what` that does not exist.
pub fn id_of(what: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::from(DatabusError::NotFound(format!(
            "{what} {raw} does not exist"
        )))
    })
}

/// A BKData-envelope answer.
pub type BkResult = Result<Json<BkEnvelope>, ApiError>;

pub fn ok(v: Value) -> BkResult {
    Ok(Json(BkEnvelope::ok(v)))
}

/// A BKData-envelope answer of a shared wire type (`bkdata_api`).
pub fn ok_as(v: impl serde::Serialize) -> BkResult {
    ok(serde_json::to_value(v)
        .map_err(|e| ApiError::from(DatabusError::Internal(e.to_string())))?)
}

/// Run a database call on the blocking pool (`models::db::blocking`), its error answered
/// in the request's envelope.
pub async fn db<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    bkdata_models::db::blocking(&st.pool, move |c| f(c).map_err(Into::into)).await
}
