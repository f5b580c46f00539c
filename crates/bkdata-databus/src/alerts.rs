//! What the databus asks of the alert path: store events (the `alert` storage) and raise
//! platform faults. The alert crate implements [`Alerts`] and the worker installs it at start,
//! so the dependency points from the alert path to the databus, not back.
use bkdata_models::error::PlatformError;
use diesel::PgConnection;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// The outcome of storing events: how many were accepted, and the refused ones by index
/// with the reason.
#[derive(Debug, Default)]
pub struct Stored {
    pub accepted: usize,
    pub rejected: Vec<(usize, String)>,
}

pub trait Alerts: Send + Sync {
    /// Clean and store events of `app` (as the alert ingest does) and wake a builder.
    fn store(
        &self,
        conn: &mut PgConnection,
        app: &str,
        events: &[Value],
        now: i64,
    ) -> Result<Stored, PlatformError>;

    /// A platform fault (`failing`: an ABNORMAL event) or its recovery (RECOVERED), as an
    /// event of the app that owns the component.
    #[allow(clippy::too_many_arguments)]
    fn platform_event(
        &self,
        conn: &mut PgConnection,
        app: &str,
        alert_name: &str,
        kind: &str,
        target: &str,
        bk_biz_id: i64,
        severity: i32,
        failing: bool,
        message: &str,
    ) -> Result<(), PlatformError>;
}

static INSTALLED: OnceLock<Arc<dyn Alerts>> = OnceLock::new();

/// Install the alert path for this process (the worker does at start; a second call is
/// ignored).
pub fn install(a: Arc<dyn Alerts>) {
    let _ = INSTALLED.set(a);
}

/// The installed alert path, if any.
pub fn installed() -> Option<&'static Arc<dyn Alerts>> {
    INSTALLED.get()
}
