use serde_json::{json, Value};

/// Databus errors; the server maps each to BKData's envelope code once.
#[derive(Debug, thiserror::Error)]
pub enum DatabusError {
    #[error("{message}")]
    Validation { message: String, errors: Value },
    /// The clean config is invalid (BKData's "clean verify failed").
    #[error("{message}")]
    CleanConfig { message: String, errors: Value },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{message}")]
    TooLarge { message: String, limit: u64 },
    #[error("service temporarily unavailable: {message}")]
    Unavailable { message: String, details: Value },
    #[error("internal error: {0}")]
    Internal(String),
    /// Refused by BKData's auth module: `code` is its 1511xxx code (permission denied 1511001,
    /// token invalid 1511005, expired 1511203, disabled 1511206, scope invalid 1511205, …).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
}

impl DatabusError {
    pub fn denied(message: impl Into<String>) -> Self {
        DatabusError::Denied {
            code: "1511001",
            message: message.into(),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        DatabusError::Validation {
            errors: json!({ field: [message.clone()] }),
            message,
        }
    }
}

impl From<diesel::result::Error> for DatabusError {
    fn from(e: diesel::result::Error) -> Self {
        DatabusError::Internal(format!("database: {e}"))
    }
}

impl From<diesel::r2d2::PoolError> for DatabusError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DatabusError::Unavailable {
            message: format!("database unavailable: {e}"),
            details: json!({}),
        }
    }
}

impl From<bkdata_storage::StorageError> for DatabusError {
    fn from(e: bkdata_storage::StorageError) -> Self {
        match e {
            bkdata_storage::StorageError::Config(m) => DatabusError::field("storage_cluster", m),
            e => DatabusError::Unavailable {
                message: e.to_string(),
                details: json!({}),
            },
        }
    }
}
