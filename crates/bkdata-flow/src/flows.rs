//! Flows (`/v3/dataflow/flow/flows/`): create from nodes as BKData's clients send them,
//! get, list, graph, export and delete. A flow belongs to a project of the calling app and
//! reads only result tables that project may read. Creating checks the whole graph first
//! (`graph::check`): an invalid node leaves nothing behind. Each realtime node's output is a
//! new result table `{bk_biz_id}_{table_name}` with the fields its SQL produces.
use crate::graph::{self, Catalog, Node, NodeKind, NodeSpec};
use bkdata_api::dataflow::{
    CreateFlowRequest, CreateFlowResponse, FlowGraph, FlowInfo, GraphLink, GraphNode, NodeRuntime,
};
use bkdata_databus::projects;
use bkdata_databus::rawdata::bk_time;
use bkdata_databus::DatabusError;
use bkdata_models::auth::Caller;
use bkdata_models::databus::{Flow, FlowNode, Project};
use bkdata_models::schema::{
    flow_deploys as fd, flow_nodes as fnd, flows as f, result_tables as rt, storage_clusters as sc,
};
use bkdata_models::states::{DeployStatus, FlowStatus};
use diesel::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// A create request read and resolved against the database, ready for the (async) check.
pub struct Prepared {
    project: Project,
    flow_name: String,
    description: String,
    specs: Vec<NodeSpec>,
    catalog: DbCatalog,
}

pub(crate) struct DbCatalog {
    tables: HashMap<String, Vec<(String, String)>>,
    clusters: HashMap<String, String>,
}

impl Catalog for DbCatalog {
    fn table_fields(&self, id: &str) -> Option<Vec<(String, String)>> {
        self.tables.get(id).cloned()
    }
    fn cluster_type(&self, name: &str) -> Option<String> {
        self.clusters.get(name).cloned()
    }
}

/// `(field_name, field_type)` of a result table's `fields`.
pub(crate) fn fields_of(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| {
            Some((
                x["field_name"].as_str()?.to_string(),
                x["field_type"].as_str().unwrap_or("string").to_string(),
            ))
        })
        .collect()
}

fn int(req: &Value, key: &str) -> Option<i64> {
    req.get(key).and_then(graph::int)
}

/// Read a create body `{project_id, flow_name, nodes}` and what checking it needs.
pub fn prepare(
    conn: &mut PgConnection,
    caller: &Caller,
    req: &Value,
) -> Result<Prepared, DatabusError> {
    let project_id = int(req, "project_id")
        .ok_or_else(|| DatabusError::field("project_id", "project_id is required (an integer)"))?;
    let project = projects::get(conn, caller, project_id).map_err(|_| {
        DatabusError::field("project_id", format!("project {project_id} does not exist"))
    })?;
    let flow_name = req["flow_name"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DatabusError::field("flow_name", "flow_name is required"))?
        .to_string();
    let specs = parse_nodes(req)?;
    let catalog = catalog(conn, &project, &specs)?;
    Ok(Prepared {
        project,
        flow_name,
        description: req["description"].as_str().unwrap_or_default().to_string(),
        specs,
        catalog,
    })
}

/// The `nodes` of a request body.
pub(crate) fn parse_nodes(req: &Value) -> Result<Vec<NodeSpec>, DatabusError> {
    let nodes = req.get("nodes").cloned().unwrap_or(Value::Null);
    let nodes = match nodes {
        // Python clients sometimes send the list JSON-encoded.
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| DatabusError::field("nodes", format!("nodes is not a JSON list: {e}")))?,
        v => v,
    };
    serde_json::from_value(nodes).map_err(|e| {
        DatabusError::field(
            "nodes",
            format!("nodes must be a list of node objects: {e}"),
        )
    })
}

/// What checking `specs` needs: the tables their sources name, as far as the project may
/// read them, and every cluster's type.
pub(crate) fn catalog(
    conn: &mut PgConnection,
    project: &Project,
    specs: &[NodeSpec],
) -> Result<DbCatalog, DatabusError> {
    let mut tables = HashMap::new();
    for s in specs {
        if s.node_type
            .as_deref()
            .is_some_and(|t| graph::SOURCE_TYPES.contains(&t))
        {
            if let Some(id) = s.config.get("result_table_id").and_then(Value::as_str) {
                if let Some(t) = projects::readable(conn, project, id)? {
                    tables.insert(id.to_string(), fields_of(&t.fields));
                }
            }
        }
    }
    let clusters = sc::table
        .select((sc::cluster_name, sc::cluster_type))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    Ok(DbCatalog { tables, clusters })
}

/// Check the graph; a bad node is a validation error naming it and its field.
pub async fn check(p: &Prepared) -> Result<Vec<Node>, DatabusError> {
    check_specs(&p.specs, &p.catalog).await
}

pub(crate) async fn check_specs(
    specs: &[NodeSpec],
    catalog: &DbCatalog,
) -> Result<Vec<Node>, DatabusError> {
    graph::check(specs, catalog)
        .await
        .map_err(|e| DatabusError::Validation {
            errors: json!({"nodes": {e.node.clone(): {e.field.clone(): [e.message.clone()]}}}),
            message: e.to_string(),
        })
}

/// A node's settings as kept: everything sent but `id` and `from_nodes`.
pub(crate) fn kept_config(n: &Node) -> Value {
    let mut m: Map<String, Value> = n.config.clone();
    m.insert("node_type".into(), json!(n.node_type));
    m.insert("name".into(), json!(n.name));
    m.insert("bk_biz_id".into(), json!(n.bk_biz_id));
    Value::Object(m)
}

/// Save a checked flow: the flow, its nodes (inputs by platform id) and the result tables of
/// its realtime nodes, in one transaction. Answers `{flow_id, node_ids}` with the node ids in
/// the order the nodes were sent.
pub fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    p: Prepared,
    nodes: Vec<Node>,
) -> Result<CreateFlowResponse, DatabusError> {
    conn.transaction(|conn| {
        let flow_id: i64 = diesel::insert_into(f::table)
            .values((
                f::flow_name.eq(&p.flow_name),
                f::project_id.eq(p.project.project_id),
                f::description.eq(&p.description),
                f::bk_app_code.eq(&caller.app_code),
                f::created_by.eq(&caller.username),
                f::updated_by.eq(&caller.username),
            ))
            .returning(f::flow_id)
            .get_result(conn)?;
        let node_ids = insert_nodes(conn, caller, flow_id, &p.specs, &nodes, &HashMap::new())?;
        Ok(CreateFlowResponse { flow_id, node_ids })
    })
}

/// Insert checked nodes (in dependency order) with the result tables of realtime nodes.
/// `known`: client ids of nodes already saved → their platform ids. Answers the new nodes'
/// ids in the order of `specs`.
pub(crate) fn insert_nodes(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    specs: &[NodeSpec],
    nodes: &[Node],
    known: &HashMap<String, i64>,
) -> Result<Vec<i64>, DatabusError> {
    let mut ids = known.clone();
    for n in nodes.iter().filter(|n| !known.contains_key(&n.id)) {
        if let NodeKind::Realtime { fields, .. } = &n.kind {
            let table = n
                .config
                .get("table_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let alias = n
                .config
                .get("output_name")
                .and_then(Value::as_str)
                .unwrap_or(table);
            let inserted = diesel::insert_into(rt::table)
                .values((
                    rt::result_table_id.eq(&n.output),
                    rt::bk_biz_id.eq(n.bk_biz_id),
                    rt::result_table_name.eq(table),
                    rt::result_table_name_alias.eq(alias),
                    rt::processing_type.eq("realtime"),
                    rt::description.eq(alias),
                    rt::fields.eq(rt_fields(fields)),
                    rt::bk_app_code.eq(&caller.app_code),
                    rt::created_by.eq(&caller.username),
                    rt::updated_by.eq(&caller.username),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            if inserted == 0 {
                return Err(node_error(
                    n,
                    "table_name",
                    format!("result table {} already exists", n.output),
                ));
            }
        }
        let inputs: Vec<i64> = n.inputs.iter().map(|i| ids[i]).collect();
        let node_id: i64 = diesel::insert_into(fnd::table)
            .values((
                fnd::flow_id.eq(flow_id),
                fnd::node_type.eq(&n.node_type),
                fnd::node_name.eq(&n.name),
                fnd::bk_biz_id.eq(n.bk_biz_id),
                fnd::config.eq(kept_config(n)),
                fnd::inputs.eq(&inputs),
                fnd::result_table_id.eq(&n.output),
            ))
            .returning(fnd::node_id)
            .get_result(conn)?;
        ids.insert(n.id.clone(), node_id);
    }
    Ok(specs
        .iter()
        .map(|s| graph::id_str(&s.id))
        .filter(|id| !known.contains_key(id))
        .map(|id| ids[&id])
        .collect())
}

fn node_error(n: &Node, field: &str, message: String) -> DatabusError {
    DatabusError::Validation {
        errors: json!({"nodes": {n.id.clone(): {field: [message.clone()]}}}),
        message: format!("node {} ({}): {field}: {message}", n.id, n.name),
    }
}

pub(crate) fn rt_fields(fields: &[(String, String)]) -> Value {
    fields
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| {
            json!({"field_name": name, "field_type": ty, "field_alias": name,
            "is_dimension": false, "field_index": i + 1})
        })
        .collect()
}

pub fn view(x: &Flow) -> FlowInfo {
    FlowInfo {
        flow_id: x.flow_id,
        flow_name: x.flow_name.clone(),
        project_id: x.project_id,
        status: x.status.to_string(),
        is_locked: x.is_locked,
        latest_version: x.version.to_string(),
        bk_app_code: x.bk_app_code.clone(),
        description: x.description.clone(),
        created_by: x.created_by.clone(),
        created_at: Some(bk_time(x.created_at)),
        updated_by: x.updated_by.clone(),
        updated_at: Some(bk_time(x.updated_at)),
        locked_by: None,
        locked_at: None,
    }
}

pub fn get(conn: &mut PgConnection, caller: &Caller, id: i64) -> Result<Flow, DatabusError> {
    f::table
        .find(id)
        .filter(f::bk_app_code.eq(&caller.app_code))
        .select(Flow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DatabusError::NotFound(format!("flow {id} does not exist")))
}

pub fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    project_id: Option<i64>,
) -> Result<Vec<Flow>, DatabusError> {
    let mut q = f::table
        .filter(f::bk_app_code.eq(&caller.app_code))
        .select(Flow::as_select())
        .order(f::flow_id)
        .into_boxed();
    if let Some(p) = project_id {
        q = q.filter(f::project_id.eq(p));
    }
    Ok(q.load(conn)?)
}

/// A flow's counters for the overview: summed over its realtime nodes; the nodes that fail.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlowSummary {
    pub flow_id: i64,
    pub flow_name: String,
    pub project_id: i64,
    pub status: String,
    pub status_message: String,
    pub rows_in: i64,
    pub rows_out: i64,
    pub late_rows: i64,
    pub bad_rows: i64,
    pub windows: i64,
    /// `name: message` of each node that failed (a node job that fails says `failed: …`).
    pub failed_nodes: Vec<String>,
}

/// Every flow of the caller with its counters, in two queries whatever the number of flows.
pub fn overview(
    conn: &mut PgConnection,
    caller: &Caller,
) -> Result<Vec<FlowSummary>, DatabusError> {
    let flows = list(conn, caller, None)?;
    let ids: Vec<i64> = flows.iter().map(|f| f.flow_id).collect();
    let nodes: Vec<FlowNode> = fnd::table
        .filter(fnd::flow_id.eq_any(&ids))
        .filter(fnd::node_type.eq_any(graph::PROCESSING_TYPES))
        .select(FlowNode::as_select())
        .load(conn)?;
    let mut by_flow: HashMap<i64, Vec<&FlowNode>> = HashMap::new();
    for n in &nodes {
        by_flow.entry(n.flow_id).or_default().push(n);
    }
    Ok(flows
        .iter()
        .map(|f| {
            let ns = by_flow.get(&f.flow_id).map(Vec::as_slice).unwrap_or(&[]);
            let sum = |g: fn(&FlowNode) -> i64| ns.iter().map(|n| g(n)).sum();
            FlowSummary {
                flow_id: f.flow_id,
                flow_name: f.flow_name.clone(),
                project_id: f.project_id,
                status: f.status.to_string(),
                status_message: String::new(),
                rows_in: sum(|n| n.rows_in),
                rows_out: sum(|n| n.rows_out),
                late_rows: sum(|n| n.late_rows),
                bad_rows: sum(|n| n.bad_rows),
                windows: sum(|n| n.windows),
                failed_nodes: ns
                    .iter()
                    .filter(|n| {
                        n.status == bkdata_models::states::NodeStatus::Failure
                            || n.status_message.starts_with("failed")
                    })
                    .map(|n| format!("{}: {}", n.node_name, n.status_message))
                    .collect(),
            }
        })
        .collect())
}

pub(crate) fn nodes_of(
    conn: &mut PgConnection,
    flow_id: i64,
) -> Result<Vec<FlowNode>, DatabusError> {
    Ok(fnd::table
        .filter(fnd::flow_id.eq(flow_id))
        .order(fnd::node_id)
        .select(FlowNode::as_select())
        .load(conn)?)
}

/// A node's config with its links by platform id, as graph and export show it.
fn node_config(n: &FlowNode, by_id: &HashMap<i64, &FlowNode>) -> Value {
    let mut c = n.config.as_object().cloned().unwrap_or_default();
    let from: Vec<Value> = n
        .inputs
        .iter()
        .map(|i| json!({"id": i, "from_result_table_ids": by_id.get(i).map(|p| vec![p.result_table_id.clone()]).unwrap_or_default()}))
        .collect();
    c.insert("from_nodes".into(), json!(from));
    c.insert("id".into(), json!(n.node_id));
    Value::Object(c)
}

/// A realtime node's counters and progress: rows read, written, late and bad, windows emitted,
/// and the event time up to which windows are closed.
fn runtime_view(n: &FlowNode) -> Option<NodeRuntime> {
    if !graph::PROCESSING_TYPES.contains(&n.node_type.as_str()) {
        return None;
    }
    let cp = n.checkpoint.as_ref();
    // A parallel node: windows are closed up to where its slowest task is; its position is
    // the sum over the input partitions.
    let (emitted_to, max_event_time, input_position) =
        match cp.and_then(|c| c["parallel"]["tasks"].as_array()) {
            Some(tasks) => (
                tasks.iter().filter_map(|t| t["emitted_to"].as_i64()).min(),
                tasks.iter().filter_map(|t| t["max_event"].as_i64()).max(),
                cp.and_then(|c| c["parallel"]["sources"].as_array())
                    .map(|s| s.iter().filter_map(Value::as_u64).sum()),
            ),
            None => (
                cp.and_then(|c| c["emitted_to"].as_i64()),
                cp.and_then(|c| c["max_event"].as_i64()),
                cp.and_then(|c| c["consumed"].as_u64()),
            ),
        };
    Some(NodeRuntime {
        rows_in: n.rows_in,
        rows_out: n.rows_out,
        late_rows: n.late_rows,
        bad_rows: n.bad_rows,
        windows: n.windows,
        emitted_to: emitted_to.filter(|t| *t > i64::MIN),
        max_event_time,
        input_position,
    })
}

/// `{nodes: [{node_id, node_type, node_config, status, has_modify, result_table_ids}], links, version}`.
pub fn graph(conn: &mut PgConnection, caller: &Caller, id: i64) -> Result<FlowGraph, DatabusError> {
    let flow = get(conn, caller, id)?;
    let nodes = nodes_of(conn, id)?;
    let by_id: HashMap<i64, &FlowNode> = nodes.iter().map(|n| (n.node_id, n)).collect();
    // A node edited since the running deploy started waits for a restart.
    let deployed_at: Option<chrono::DateTime<chrono::Utc>> = if flow.status == FlowStatus::Running {
        fd::table
            .filter(fd::flow_id.eq(id))
            .filter(fd::action.ne("stop"))
            .filter(fd::status.eq(DeployStatus::Success))
            .select(diesel::dsl::max(fd::start_time))
            .first(conn)?
    } else {
        None
    };
    let views: Vec<GraphNode> = nodes
        .iter()
        .map(|n| GraphNode {
            node_id: n.node_id,
            flow_id: n.flow_id,
            node_type: n.node_type.clone(),
            node_name: n.node_name.clone(),
            node_config: node_config(n, &by_id),
            status: n.status.to_string(),
            has_modify: deployed_at.is_some_and(|t| n.updated_at > t),
            status_message: n.status_message.clone(),
            runtime: runtime_view(n),
            result_table_ids: vec![n.result_table_id.clone()],
            frontend_info: n
                .config
                .get("frontend_info")
                .cloned()
                .unwrap_or(Value::Null),
        })
        .collect();
    let links: Vec<GraphLink> = nodes
        .iter()
        .flat_map(|n| {
            n.inputs.iter().map(move |i| GraphLink {
                from_node_id: *i,
                to_node_id: n.node_id,
                frontend_info: json!({"source": {"node_id": i, "id": format!("ch_{i}"), "arrow": "Right"},
                                      "target": {"node_id": n.node_id, "id": format!("ch_{}", n.node_id), "arrow": "Left"}}),
            })
        })
        .collect();
    Ok(FlowGraph {
        flow_id: id,
        status: flow.status.to_string(),
        version: flow.version.to_string(),
        nodes: views,
        links,
    })
}

/// `{project_id, flow_name, nodes}`: posting it to `create/` gives an equal flow.
pub fn export(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
) -> Result<CreateFlowRequest, DatabusError> {
    let flow = get(conn, caller, id)?;
    let nodes = nodes_of(conn, id)?;
    let by_id: HashMap<i64, &FlowNode> = nodes.iter().map(|n| (n.node_id, n)).collect();
    Ok(CreateFlowRequest {
        project_id: flow.project_id,
        flow_name: flow.flow_name,
        description: flow.description,
        nodes: nodes.iter().map(|n| node_config(n, &by_id)).collect(),
    })
}

/// Delete a flow that is not running, with the result tables its realtime nodes made.
pub fn delete(conn: &mut PgConnection, caller: &Caller, id: i64) -> Result<(), DatabusError> {
    conn.transaction(|conn| {
        let flow = get(conn, caller, id)?;
        if !matches!(flow.status, FlowStatus::NoStart | FlowStatus::Failure) {
            return Err(DatabusError::field(
                "status",
                format!("flow {id} is {}: stop it before deleting it", flow.status),
            ));
        }
        let made: Vec<String> = fnd::table
            .filter(fnd::flow_id.eq(id))
            .filter(fnd::node_type.eq_any(graph::PROCESSING_TYPES))
            .select(fnd::result_table_id)
            .load(conn)?;
        diesel::delete(f::table.find(id)).execute(conn)?;
        diesel::delete(rt::table.filter(rt::result_table_id.eq_any(&made))).execute(conn)?;
        Ok(())
    })
}
