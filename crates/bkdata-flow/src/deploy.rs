//! Starting, stopping and restarting a flow (`{fid}/start/`, `stop/`, `restart/`). Each call
//! records a *deploy* (its id is the answer's `task_id`) and queues a `flow_deploy` job; a
//! worker carries it out (`run::DeployJob`) while clients poll `latest_deploy_data/`. One
//! deploy at a time per flow.
use crate::flows;
use crate::jobs::{log_line, DeployJob, DeployRun};
use bkdata_api::dataflow::{DeployData, DeployLog, DeployTask};
use bkdata_databus::rawdata::bk_time;
use bkdata_databus::DatabusError;
use bkdata_models::auth::Caller;
use bkdata_models::databus::FlowDeploy;
use bkdata_models::jobs::Job;
use bkdata_models::schema::{flow_deploys as fd, flows as f};
use bkdata_models::states::{DeployStatus, FlowStatus};
use diesel::prelude::*;
use serde_json::{json, Value};

pub const CONSUMING_MODES: [&str; 3] = ["continue", "from_tail", "from_head"];

/// The state a flow is put in while `action` is carried out.
fn under_way(action: &str) -> FlowStatus {
    if action == "stop" {
        FlowStatus::Stopping
    } else {
        FlowStatus::Starting
    }
}

/// Whether a flow in `status` may be given `action`: a start is for a flow that does not run
/// (a running one is restarted), a stop or restart for one that runs or failed. (Each of these
/// moves is one `FlowStatus::can_become` allows; which action is asked decides.)
fn allowed(action: &str, status: FlowStatus) -> bool {
    use FlowStatus::*;
    match action {
        "start" => matches!(status, NoStart | Failure),
        _ => matches!(status, Running | Failure),
    }
}

/// Record a deploy of `action` (start, stop, restart) and queue it. Answers `{task_id}`.
pub fn request(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    action: &'static str,
    body: &Value,
) -> Result<DeployTask, DatabusError> {
    let mode = match body.get("consuming_mode") {
        None | Some(Value::Null) => "continue".to_string(),
        Some(Value::String(m)) if CONSUMING_MODES.contains(&m.as_str()) => m.clone(),
        Some(other) => {
            return Err(DatabusError::field(
                "consuming_mode",
                format!(
                    "consuming_mode {other} is not one of {}",
                    CONSUMING_MODES.join(", ")
                ),
            ))
        }
    };
    conn.transaction(|conn| {
        let flow = flows::get(conn, caller, flow_id)?;
        // Lock the flow row: two requests for one flow are decided one after the other.
        f::table
            .find(flow_id)
            .select(f::flow_id)
            .for_update()
            .first::<i64>(conn)?;
        if let Some(live) = live_deploy(conn, flow_id)? {
            return Err(DatabusError::field(
                "status",
                format!(
                    "flow {flow_id} is {}: deploy {} ({}) is in progress",
                    flow.status, live.id, live.action
                ),
            ));
        }
        if !allowed(action, flow.status) {
            let hint = match (action, flow.status) {
                ("start", FlowStatus::Running) => ": use restart to apply changes",
                (_, FlowStatus::NoStart) => ": start it first",
                _ => "",
            };
            return Err(DatabusError::field(
                "status",
                format!("flow {flow_id} is {}{hint}", flow.status),
            ));
        }
        let id: i64 = diesel::insert_into(fd::table)
            .values((
                fd::flow_id.eq(flow_id),
                fd::action.eq(action),
                fd::consuming_mode.eq(&mode),
                fd::version.eq(flow.version),
                fd::created_by.eq(&caller.username),
                fd::logs.eq(json!([log_line(
                    "INFO",
                    &format!("{action} requested by {} ({mode})", caller.username)
                )])),
            ))
            .returning(fd::id)
            .get_result(conn)?;
        diesel::update(f::table.find(flow_id))
            .set((
                f::status.eq(under_way(action)),
                f::updated_by.eq(&caller.username),
                f::updated_at.eq(chrono::Utc::now()),
            ))
            .execute(conn)?;
        DeployJob::enqueue(conn, &DeployRun { deploy_id: id })?;
        Ok(DeployTask {
            task_id: id,
            flow_id: Some(flow_id),
        })
    })
}

fn live_deploy(conn: &mut PgConnection, flow_id: i64) -> QueryResult<Option<FlowDeploy>> {
    fd::table
        .filter(fd::flow_id.eq(flow_id))
        .filter(fd::status.eq_any(DeployStatus::LIVE))
        .select(FlowDeploy::as_select())
        .first(conn)
        .optional()
}

/// A deploy as BKData's `latest_deploy_data/` answers it.
pub fn view(d: &FlowDeploy) -> DeployData {
    let logs: Vec<DeployLog> = serde_json::from_value(d.logs.clone()).unwrap_or_default();
    let joined: Vec<String> = logs
        .iter()
        .map(|l| format!("[{}] {}", l.time, l.message))
        .collect();
    DeployData {
        id: d.id,
        flow_id: d.flow_id,
        action: d.action.clone(),
        status: d.status.to_string(),
        logs_zh: joined.join("\n"),
        logs_en: joined.join("\n"),
        logs,
        progress: f64::from(d.progress),
        context: json!({"consuming_mode": d.consuming_mode}),
        start_time: d.start_time.map(bk_time),
        end_time: d.end_time.map(bk_time),
        version: d.version.to_string(),
        created_by: d.created_by.clone(),
        created_at: Some(bk_time(d.created_at)),
        description: format!("{} flow", d.action),
    }
}

/// The latest deploy of a flow, `None` before the first start.
pub fn latest(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
) -> Result<Option<FlowDeploy>, DatabusError> {
    flows::get(conn, caller, flow_id)?;
    Ok(fd::table
        .filter(fd::flow_id.eq(flow_id))
        .order(fd::id.desc())
        .select(FlowDeploy::as_select())
        .first(conn)
        .optional()?)
}

/// Every deploy of a flow, newest first.
pub fn history(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
) -> Result<Vec<FlowDeploy>, DatabusError> {
    flows::get(conn, caller, flow_id)?;
    Ok(fd::table
        .filter(fd::flow_id.eq(flow_id))
        .order(fd::id.desc())
        .limit(100)
        .select(FlowDeploy::as_select())
        .load(conn)?)
}
