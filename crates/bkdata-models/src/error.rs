//! The platform's one error for what a request (or a job) could not do. Every crate answers
//! it; the server maps each kind, once, to both envelopes: the pipeline API's status and
//! `error_type`, and BKData's code (`bins/bkdata-server/src/error.rs`).
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The request is wrong: `errors` names the fields (BKData's `errors`, the pipeline's
    /// `details`).
    #[error("{message}")]
    Validation { message: String, errors: Value },
    /// The clean config is invalid (BKData's "clean verify failed").
    #[error("{message}")]
    CleanConfig { message: String, errors: Value },
    /// A step asked for before the steps it needs (the pipeline's `dependency_error`).
    #[error("{message}")]
    Dependency { message: String, details: Value },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The state forbids it now (another execution runs, …).
    #[error("{message}")]
    Conflict { message: String, details: Value },
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

pub type Result<T, E = PlatformError> = std::result::Result<T, E>;

impl PlatformError {
    pub fn denied(message: impl Into<String>) -> Self {
        PlatformError::Denied {
            code: "1511001",
            message: message.into(),
        }
    }

    /// A wrong request, its fields named by `errors` (`{}` when none).
    pub fn validation_with(message: impl Into<String>, errors: Value) -> Self {
        PlatformError::Validation {
            message: message.into(),
            errors,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::validation_with(message, json!({}))
    }

    /// A wrong value of one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        PlatformError::Validation {
            errors: json!({ field: [message.clone()] }),
            message,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        PlatformError::Unavailable {
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn task_not_found(task_id: &str) -> Self {
        PlatformError::NotFound(format!("task {task_id} does not exist"))
    }

    /// The same error with what was being done in front of its message.
    pub fn context(self, doing: &str) -> Self {
        let pre = |m: String| format!("{doing}: {m}");
        match self {
            PlatformError::Validation { message, errors } => PlatformError::Validation {
                message: pre(message),
                errors,
            },
            PlatformError::Unavailable { message, details } => PlatformError::Unavailable {
                message: pre(message),
                details,
            },
            PlatformError::Internal(m) => PlatformError::Internal(pre(m)),
            other => other,
        }
    }
}

impl From<diesel::result::Error> for PlatformError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as E};
        match e {
            // A row asked for is not there.
            E::NotFound => PlatformError::NotFound("not found".into()),
            E::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::unavailable(format!("database connection closed: {}", info.message()))
            }
            other => PlatformError::Internal(format!("database: {other}")),
        }
    }
}

impl From<tokio::task::JoinError> for PlatformError {
    fn from(e: tokio::task::JoinError) -> Self {
        PlatformError::Internal(format!("a database call did not finish: {e}"))
    }
}

impl From<r2d2::Error> for PlatformError {
    fn from(e: r2d2::Error) -> Self {
        Self::unavailable(format!("database unavailable: {e}"))
    }
}

impl From<std::io::Error> for PlatformError {
    fn from(e: std::io::Error) -> Self {
        PlatformError::Internal(format!("file system: {e}"))
    }
}
