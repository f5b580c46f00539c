//! Seed 003's alert path (wire reference §5): events cleaned as bk-monitor cleans them,
//! deduplicated by `dedupe_md5` into alerts with the builder's rules.
pub mod api;
pub mod bus;
pub mod dedupe;
pub mod doc;
pub mod es;
pub mod event;
pub mod job;
pub mod pystr;
pub mod rules;
pub mod store;
