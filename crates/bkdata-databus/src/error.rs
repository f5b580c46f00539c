use serde_json::json;

/// The databus answers the platform's one error.
pub use bkdata_models::error::PlatformError as DatabusError;

/// A storage's failure while serving a request: unreachable is "unavailable" (naming the
/// cluster), anything else is the request's fault, named by `field`.
pub fn of_storage(e: bkdata_storage::StorageError, cluster: &str, field: &str) -> DatabusError {
    match e {
        bkdata_storage::StorageError::Connect(message) => DatabusError::Unavailable {
            message,
            details: json!({ "cluster": cluster }),
        },
        other => DatabusError::field(field, other.to_string()),
    }
}

/// A storage's failure: a bad cluster config is the request's fault, the rest unavailable.
pub fn from_storage(e: bkdata_storage::StorageError) -> DatabusError {
    match e {
        bkdata_storage::StorageError::Config(m) => DatabusError::field("storage_cluster", m),
        e => DatabusError::Unavailable {
            message: e.to_string(),
            details: json!({}),
        },
    }
}
