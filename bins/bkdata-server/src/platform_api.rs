//! `GET /v3/platform/overview/`: what the console's first page shows in one call: the workers
//! and the jobs each holds, and the caller's cleans, shippers and flows with their counters,
//! bus lag and failures. Workers are shown to every signed-in app (they are shared); objects
//! only to their owner.
use crate::request::{db, ok, BkResult};
use crate::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use bkdata_databus::{tasks, DatabusError};
use bkdata_models::auth::Caller;
use serde_json::{json, Value};
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v3/platform/overview/", get(overview))
}

/// A worker not seen for this long is shown as gone (workers heartbeat well within their
/// job lease, `BKDATA_JOB_LEASE_MS`, 30 s by default).
fn alive_within() -> Duration {
    let lease = bkdata_models::env::num("BKDATA_JOB_LEASE_MS", 30_000usize).unwrap_or(30_000);
    Duration::from_millis(lease as u64)
}

async fn overview(State(st): State<AppState>, Extension(c): Extension<Caller>) -> BkResult {
    let c2 = c.clone();
    let (workers, states, flows) = db(&st, move |conn| {
        let workers = bkdata_models::jobs::workers_view(conn, alive_within())?;
        let mut states = Vec::new();
        for rt in tasks::owned_tables(conn, &c2)? {
            match tasks::state(conn, &c2, &rt) {
                Ok(s) => states.push(s),
                // Deleted between the two reads.
                Err(DatabusError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let flows = bkdata_flow::flows::overview(conn, &c2)?;
        Ok::<_, DatabusError>((workers, states, flows))
    })
    .await?;
    // Lag asks the bus once per stage: all tables at once.
    let views =
        futures_util::future::join_all(states.iter().map(|s| tasks::view(&st.bus, s))).await;
    let (mut cleans, mut shippers, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for v in views {
        for (name, t) in v.storages {
            let failed = t.status == "failed";
            let message = t.status_message.clone().unwrap_or_default();
            if name == "kafka" {
                if failed {
                    failures.push(
                        json!({"kind": "clean", "id": v.result_table_id, "message": message}),
                    );
                }
                cleans.push(json!({
                    "processing_id": t.processing_id, "result_table_id": v.result_table_id,
                    "status": t.status, "status_message": message,
                    "records_in": t.records_in, "rows_out": t.rows_out,
                    "errors_total": t.errors_total, "lag": t.lag,
                }));
            } else {
                if failed {
                    failures.push(
                        json!({"kind": "shipper", "id": format!("{}/{name}", v.result_table_id),
                                         "message": message, "at": t.last_write_at}),
                    );
                }
                shippers.push(json!({
                    "result_table_id": v.result_table_id, "storage_type": name,
                    "status": t.status, "status_message": message,
                    "rows_written": t.rows_written, "dead_letters": t.dead_letters, "lag": t.lag,
                }));
            }
        }
    }
    for f in &flows {
        for n in &f.failed_nodes {
            failures.push(json!({"kind": "flow", "id": format!("{} ({})", f.flow_name, f.flow_id), "message": n}));
        }
    }
    let workers: Vec<Value> = workers
        .into_iter()
        .map(|w| {
            json!({"worker_id": w.worker_id, "hostname": w.hostname, "pid": w.pid,
                   "started_at": bkdata_databus::rawdata::bk_time(w.started_at),
                   "last_seen_at": bkdata_databus::rawdata::bk_time(w.last_seen_at),
                   "alive": w.alive, "jobs": w.jobs})
        })
        .collect();
    ok(
        json!({"workers": workers, "cleans": cleans, "shippers": shippers, "flows": flows,
              "failures": failures}),
    )
}
