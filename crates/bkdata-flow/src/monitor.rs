//! What bklog and bk-monitor read of a running flow beside its deploys: per-node counters
//! (`flows/{id}/monitor_data/`, `nodes/{nid}/monitor_data/`: BKData's `data_loss_io_total`
//! and `rt_status`), the canvas with each node's running state
//! (`versions/draft/?add_node_running_info=1`), and the resources asked for
//! (`tool/job/set_resource/`).
use crate::flows;
use crate::graph::STORAGE_TYPES;
use bkdata_databus::DatabusError;
use bkdata_models::auth::Caller;
use bkdata_models::databus::FlowNode;
use bkdata_models::schema::{cleans as c, flow_nodes as fnd, flows as f, shippers as sh};
use bkdata_models::states::{FlowStatus, NodeStatus};
use diesel::prelude::*;
use serde_json::{json, Map, Value};

/// BKData's node states: `running`, `failure` or `no-start`.
fn node_status(n: &FlowNode, flow_status: FlowStatus) -> NodeStatus {
    match n.status {
        // A source runs when its flow does (its clean is the databus').
        NodeStatus::NoStart
            if flow_status == FlowStatus::Running && n.node_type == "stream_source" =>
        {
            NodeStatus::Running
        }
        s => s,
    }
}

/// A node's rows in and out: a realtime node's own counters, a storage node's rows written,
/// a source's rows cleaned into its table.
fn io_of(conn: &mut PgConnection, n: &FlowNode) -> Result<(i64, i64), DatabusError> {
    if let Some((_, storage)) = STORAGE_TYPES.iter().find(|(t, _)| *t == n.node_type) {
        let written: Option<i64> = sh::table
            .find((&n.result_table_id, storage))
            .select(sh::rows_written)
            .first(conn)
            .optional()?;
        let w = written.unwrap_or(0);
        return Ok((w, w));
    }
    if n.node_type == "stream_source" {
        let rows: Option<i64> = c::table
            .find(&n.result_table_id)
            .select(c::rows_out)
            .first(conn)
            .optional()?;
        let r = rows.unwrap_or(0);
        return Ok((r, r));
    }
    Ok((n.rows_in, n.rows_out))
}

fn nodes_of(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
) -> Result<(FlowStatus, Vec<FlowNode>), DatabusError> {
    let flow = flows::get(conn, caller, flow_id)?;
    let nodes = fnd::table
        .filter(fnd::flow_id.eq(flow_id))
        .order(fnd::node_id)
        .select(FlowNode::as_select())
        .load(conn)?;
    Ok((flow.status, nodes))
}

fn node_monitor(
    conn: &mut PgConnection,
    n: &FlowNode,
    flow_status: FlowStatus,
) -> Result<(Value, Value), DatabusError> {
    let (input, output) = io_of(conn, n)?;
    let io = json!({
        "input": input,
        "output": output,
        "node_type": n.node_type,
        "data": {n.result_table_id.clone(): {"input": input, "output": output}},
        "late": n.late_rows,
        "bad": n.bad_rows,
        "windows": n.windows,
    });
    let status = json!({
        "status": node_status(n, flow_status).as_str(),
        "node_type": n.node_type,
        "result_table_id": n.result_table_id,
        "message": n.status_message,
    });
    Ok((io, status))
}

/// The `monitor_type`s asked for (comma-separated; all when none).
fn wanted(monitor_type: Option<&str>) -> Vec<String> {
    match monitor_type.map(str::trim).filter(|s| !s.is_empty()) {
        Some(m) => m.split(',').map(|s| s.trim().to_string()).collect(),
        None => vec![
            "data_loss_io_total".into(),
            "rt_status".into(),
            "dmonitor_alerts".into(),
        ],
    }
}

fn monitor_answer(
    conn: &mut PgConnection,
    nodes: &[FlowNode],
    flow_status: FlowStatus,
    monitor_type: Option<&str>,
) -> Result<Value, DatabusError> {
    let mut io = Map::new();
    let mut status = Map::new();
    for n in nodes {
        let (i, s) = node_monitor(conn, n, flow_status)?;
        io.insert(n.node_id.to_string(), i);
        status.insert(n.node_id.to_string(), s);
    }
    let mut out = Map::new();
    for m in wanted(monitor_type) {
        let v = match m.as_str() {
            "data_loss_io_total" => Value::Object(io.clone()),
            "rt_status" => Value::Object(status.clone()),
            // Failures of flows raise alerts (see `/v3/alert/alerts/`), not dmonitor alerts.
            "dmonitor_alerts" => json!([]),
            other => {
                return Err(DatabusError::field(
                    "monitor_type",
                    format!(
                        "monitor_type {other:?} is not known: use data_loss_io_total, rt_status or dmonitor_alerts"
                    ),
                ))
            }
        };
        out.insert(m, v);
    }
    Ok(Value::Object(out))
}

/// GET `flows/{id}/monitor_data/`.
pub fn flow_monitor(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    monitor_type: Option<&str>,
) -> Result<Value, DatabusError> {
    let (status, nodes) = nodes_of(conn, caller, flow_id)?;
    monitor_answer(conn, &nodes, status, monitor_type)
}

/// GET `flows/{id}/nodes/{nid}/monitor_data/`.
pub fn node_monitor_data(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    node_id: i64,
    monitor_type: Option<&str>,
) -> Result<Value, DatabusError> {
    let (status, nodes) = nodes_of(conn, caller, flow_id)?;
    let node: Vec<FlowNode> = nodes.into_iter().filter(|n| n.node_id == node_id).collect();
    if node.is_empty() {
        return Err(DatabusError::NotFound(format!(
            "node {node_id} of flow {flow_id} does not exist"
        )));
    }
    monitor_answer(conn, &node, status, monitor_type)
}

/// GET `flows/{id}/versions/draft/?add_node_running_info=1`: the graph with each node's
/// state (bk-monitor reads `locations[].status`, `node_name`, `node_type`).
pub fn draft(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    running_info: bool,
) -> Result<Value, DatabusError> {
    let flow = flows::get(conn, caller, flow_id)?;
    let (status, nodes) = nodes_of(conn, caller, flow_id)?;
    let mut locations = Vec::new();
    let mut lines = Vec::new();
    for n in &nodes {
        let mut loc = json!({
            "id": format!("ch_{}", n.node_id),
            "node_id": n.node_id,
            "node_name": n.node_name,
            "node_type": n.node_type,
            "result_table_ids": [n.result_table_id],
            "status": node_status(n, status),
            "frontend_info": n.config.get("frontend_info").cloned().unwrap_or(json!({})),
        });
        if running_info {
            let (input, output) = io_of(conn, n)?;
            loc["running_info"] = json!({
                "input": input, "output": output, "late": n.late_rows, "bad": n.bad_rows,
                "windows": n.windows, "message": n.status_message,
            });
        }
        locations.push(loc);
        for i in &n.inputs {
            lines.push(json!({"from_node_id": i, "to_node_id": n.node_id,
                "source": {"id": format!("ch_{i}")}, "target": {"id": format!("ch_{}", n.node_id)}}));
        }
    }
    Ok(json!({
        "flow_id": flow.flow_id,
        "version": flow.version,
        "status": flow.status,
        "locations": locations,
        "lines": lines,
    }))
}

/// POST `tool/job/set_resource/` (`{flow_id, usage_type, input_count_peak_min, …}`): recorded
/// on the flow and answered back; workers are shared, so nothing is reserved.
pub fn set_resource(
    conn: &mut PgConnection,
    caller: &Caller,
    body: &Value,
) -> Result<Value, DatabusError> {
    let flow_id = match &body["flow_id"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| DatabusError::field("flow_id", "flow_id is required (an integer)"))?;
    flows::get(conn, caller, flow_id)?;
    let mut settings = Map::new();
    for (k, v) in body.as_object().into_iter().flatten() {
        let credential = k.starts_with("bk_app") || k.starts_with("bkdata_") || k == "bk_username";
        if !credential && k != "operator" {
            settings.insert(k.clone(), v.clone());
        }
    }
    diesel::update(f::table.find(flow_id))
        .set(f::resource_settings.eq(Value::Object(settings.clone())))
        .execute(conn)?;
    Ok(json!({"flow_id": flow_id, "resource_settings": settings}))
}
