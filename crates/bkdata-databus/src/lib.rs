//! The databus: the clean engine (`etl`), raw data registration and ingest (`rawdata`),
//! cleans and their result tables (`clean`).
//! Storage drivers and shippers come next.
pub mod clean;
pub mod error;
pub mod etl;
pub mod rawdata;
pub mod runtime;
pub mod storage;

pub use error::DatabusError;
