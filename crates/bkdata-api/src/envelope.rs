use serde::{Deserialize, Serialize};
use serde_json::Value;

/// BKData's envelope. `code` is a string: `"1500200"` on success, `"15" + module + 3 digits`
/// on errors. Errors usually still travel with HTTP 200.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BkEnvelope<T = Value> {
    pub result: bool,
    #[serde(default)]
    pub data: Option<T>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub errors: Option<Value>,
}

pub const BK_OK: &str = "1500200";

impl<T> BkEnvelope<T> {
    pub fn ok(data: T) -> Self {
        BkEnvelope {
            result: true,
            data: Some(data),
            code: Some(BK_OK.to_string()),
            message: Some("ok".to_string()),
            errors: None,
        }
    }
    pub fn error(code: &str, message: impl Into<String>, errors: Option<Value>) -> Self {
        BkEnvelope {
            result: false,
            data: None,
            code: Some(code.to_string()),
            message: Some(message.into()),
            errors,
        }
    }
}

/// The data pipeline API's success envelope (seed 002). `code` mirrors the HTTP status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineEnvelope<T = Value> {
    pub success: bool,
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: Option<String>,
    pub data: T,
}

impl<T> PipelineEnvelope<T> {
    pub fn ok(code: u16, message: &str, data: T) -> Self {
        PipelineEnvelope {
            success: true,
            code: Some(code),
            message: Some(message.to_string()),
            data,
        }
    }
}

/// The data pipeline API's error envelope: `{success:false, code, message, error_type, details}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineErrorBody {
    pub success: bool,
    pub code: u16,
    pub message: String,
    pub error_type: String,
    #[serde(default)]
    pub details: Value,
}
