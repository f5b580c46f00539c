//! The databus: the clean engine (`etl`), raw data registration and ingest (`rawdata`).
//! Storage drivers and shippers come next.
pub mod error;
pub mod etl;
pub mod rawdata;

pub use error::DatabusError;
