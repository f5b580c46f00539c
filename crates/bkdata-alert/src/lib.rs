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

use bkdata_models::error::PlatformError;

/// The alert path as the databus asks for it (`bkdata_databus::alerts`): the `alert` storage
/// stores events through the ingest, platform faults become events. Installed by the worker.
pub struct AlertPath;

impl bkdata_databus::alerts::Alerts for AlertPath {
    fn store(
        &self,
        conn: &mut diesel::PgConnection,
        app: &str,
        events: &[serde_json::Value],
        now: i64,
    ) -> Result<bkdata_databus::alerts::Stored, PlatformError> {
        let r = store::ingest(conn, app, events, usize::MAX, now)?;
        if r.accepted > 0 {
            job::schedule(conn)?;
        }
        Ok(bkdata_databus::alerts::Stored {
            accepted: r.accepted,
            rejected: r
                .rejected
                .into_iter()
                .map(|x| (x.index, x.reason))
                .collect(),
        })
    }

    fn platform_event(
        &self,
        conn: &mut diesel::PgConnection,
        app: &str,
        alert_name: &str,
        kind: &str,
        target: &str,
        bk_biz_id: i64,
        severity: i32,
        failing: bool,
        message: &str,
    ) -> Result<(), PlatformError> {
        let status = if failing {
            event::ABNORMAL
        } else {
            event::RECOVERED
        };
        store::platform_event(
            conn, app, alert_name, kind, target, bk_biz_id, severity, status, message,
        )?;
        // Built like any ingest's events: queue a builder.
        job::schedule(conn)?;
        Ok(())
    }
}
