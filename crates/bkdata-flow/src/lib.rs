//! Dataflows and the query API. The flows API ([`flows`], [`edit`], [`deploy`]) checks node
//! graphs ([`graph`]) and records deploys; workers carry them out and run each realtime node
//! ([`run`]): its SQL runs on DataFusion over the rows of each closed window ([`window`],
//! [`windowing`]); rows come from and go to result-table streams as JSON objects ([`rows`]).
//! [`query`] checks and rewrites read-only SQL for a result table's storage.
pub mod deploy;
pub mod edit;
pub mod exchange;
pub mod flows;
pub mod graph;
pub mod jobs;
pub mod monitor;
pub mod query;
pub mod query_es;
pub mod rows;
pub mod sql;
pub mod window;
pub mod windowing;

pub use sql::FlowSql;
pub use window::{WindowConf, WindowType};
pub use windowing::{Emitted, Pushed, WindowRuntime};

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A node setting is missing or out of range: the field and why.
    #[error("{field} {message}")]
    Config { field: String, message: String },
    /// The SQL does not parse, plan or run.
    #[error("sql: {0}")]
    Sql(String),
}

impl FlowError {
    pub fn config(field: &str, message: impl Into<String>) -> Self {
        FlowError::Config {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<datafusion::error::DataFusionError> for FlowError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        // DataFusion wraps errors in context lines; the first line says what is wrong.
        FlowError::Sql(e.to_string())
    }
}

impl From<datafusion::arrow::error::ArrowError> for FlowError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        FlowError::Sql(e.to_string())
    }
}
