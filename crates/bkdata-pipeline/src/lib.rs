//! The data pipeline task executor of seed 002: tasks, executions, steps (a trait and a
//! registry; the engine owns the order ddl_generation → qa_generation → sql_validation →
//! training_load), the two logs, the task folder and its files, and monitoring.
mod child;
pub mod error;
pub mod executor;
pub mod files;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod records;
pub mod service;
pub mod steps;
pub mod timefmt;

pub use error::PipelineError;
pub use executor::{run_child, ExecuteJob, ExecutorConfig};
pub use service::{Caller, Service};
pub use steps::{Step, StepContext, StepError, StepRegistry};
