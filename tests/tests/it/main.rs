//! The integration tests: one binary (one link of the server, the worker library and DataFusion),
//! a module per area. Each test gets its own database (cloned from a migrated template) and bus
//! subjects, so nextest runs them in parallel.
mod alerts;
mod bad_input;
mod bklog_compat;
mod bus_cluster;
mod clean_runtime;
mod clean_storage;
mod cleans_api;
mod cli;
mod client_api;
mod client_wire;
mod console;
mod databus_api;
mod etl_conformance;
mod executor;
mod flow_runtime;
mod flows_api;
mod partitions;
mod projects_api;
mod query_api;
mod queue;
mod rawdata_api;
mod schema;
mod seed_api;
mod shipping;
mod shipping_faults;
mod storekit_api;
mod training;
