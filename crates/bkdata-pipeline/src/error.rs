//! The pipeline answers the platform's one error; the server maps each kind to a status and
//! `error_type` once.
pub use bkdata_models::error::{PlatformError as PipelineError, Result};
