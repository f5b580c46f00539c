//! Request parsing shared by the APIs.
use crate::error::ApiError;
use axum::body::Bytes;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

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
