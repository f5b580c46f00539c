//! The databus: the clean engine (`etl`), raw data registration and ingest (`rawdata`),
//! cleans and their result tables (`clean`) and their runtime (`runtime`), storage clusters
//! (`storage`), data storages (`storages`), tasks (`tasks`) and the shippers that run them
//! (`shipper`).
pub mod alert_sink;
pub mod alerts;
pub mod auth;
pub mod bindings;
pub mod clean;
pub mod clean_job;
pub mod clusters;
pub mod error;
pub mod etl;
pub mod expire_job;
pub mod meta;
pub mod partitions;
pub mod physical;
pub mod projects;
pub mod rawdata;
pub mod resourcecenter;
pub mod shipper;
pub mod spread;
pub mod storekit;
pub mod tasks;

pub use error::DatabusError;

/// Raise (or, `failing` false, recover) a platform fault as an alert event of the app that
/// owns the component. A failure to raise is logged: it never fails the caller.
#[allow(clippy::too_many_arguments)]
pub fn raise(
    conn: &mut diesel::PgConnection,
    app: &str,
    alert_name: &str,
    kind: &str,
    target: &str,
    bk_biz_id: i64,
    severity: i32,
    failing: bool,
    message: &str,
) {
    let Some(alerts) = alerts::installed() else {
        log::warn!("no alert path in this process: the {kind} event for {target} is not raised");
        return;
    };
    if let Err(e) = alerts.platform_event(
        conn, app, alert_name, kind, target, bk_biz_id, severity, failing, message,
    ) {
        log::warn!("could not raise the {kind} event for {target}: {e}");
    }
}
