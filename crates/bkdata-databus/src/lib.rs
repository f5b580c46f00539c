//! The databus: the clean engine (`etl`), raw data registration and ingest (`rawdata`),
//! cleans and their result tables (`clean`) and their runtime (`runtime`), storage clusters
//! (`storage`), data storages (`storages`), tasks (`tasks`) and the shippers that run them
//! (`shipper`).
pub mod clean;
pub mod error;
pub mod etl;
pub mod projects;
pub mod rawdata;
pub mod runtime;
pub mod shipper;
pub mod storage;
pub mod storages;
pub mod tasks;

pub use error::DatabusError;
