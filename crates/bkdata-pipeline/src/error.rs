use serde_json::{json, Value};

/// Errors of the pipeline API. The server maps each kind to a status and `error_type` once.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{message}")]
    Validation { message: String, details: Value },
    #[error("{message}")]
    Dependency { message: String, details: Value },
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { message: String, details: Value },
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl PipelineError {
    pub fn validation(message: impl Into<String>) -> Self {
        PipelineError::Validation {
            message: message.into(),
            details: json!({}),
        }
    }
    pub fn validation_with(message: impl Into<String>, details: Value) -> Self {
        PipelineError::Validation {
            message: message.into(),
            details,
        }
    }
    pub fn task_not_found(task_id: &str) -> Self {
        PipelineError::NotFound(format!("task {task_id} does not exist"))
    }
}

impl From<diesel::result::Error> for PipelineError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match e {
            E::NotFound => PipelineError::NotFound("not found".into()),
            E::DatabaseError(diesel::result::DatabaseErrorKind::ClosedConnection, info) => {
                PipelineError::Unavailable(format!(
                    "database connection closed: {}",
                    info.message()
                ))
            }
            other => PipelineError::Internal(format!("database: {other}")),
        }
    }
}

impl From<r2d2::Error> for PipelineError {
    fn from(e: r2d2::Error) -> Self {
        PipelineError::Unavailable(format!("database unavailable: {e}"))
    }
}

impl From<std::io::Error> for PipelineError {
    fn from(e: std::io::Error) -> Self {
        PipelineError::Internal(format!("file system: {e}"))
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
