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

    /// A storage's failure while serving a request: unreachable is "unavailable" (naming the
    /// cluster), anything else is the request's fault, named by `field`.
    pub fn of_storage(e: bkdata_storage::StorageError, cluster: &str, field: &str) -> Self {
        match e {
            bkdata_storage::StorageError::Connect(message) => DatabusError::Unavailable {
                message,
                details: json!({ "cluster": cluster }),
            },
            other => DatabusError::field(field, other.to_string()),
        }
    }

    /// The same error with what was being done in front of its message.
    pub fn context(self, doing: &str) -> Self {
        let pre = |m: String| format!("{doing}: {m}");
        match self {
            DatabusError::Validation { message, errors } => DatabusError::Validation {
                message: pre(message),
                errors,
            },
            DatabusError::Unavailable { message, details } => DatabusError::Unavailable {
                message: pre(message),
                details,
            },
            DatabusError::Internal(m) => DatabusError::Internal(pre(m)),
            other => other,
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

impl From<tokio::task::JoinError> for DatabusError {
    fn from(e: tokio::task::JoinError) -> Self {
        DatabusError::Internal(format!("a database call did not finish: {e}"))
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
