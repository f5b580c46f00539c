//! Editing a saved flow: add a node (`{fid}/nodes/`), change part of one (`PATCH
//! {fid}/nodes/{nid}/`), delete one, or replace them all (`{fid}/create/`). Every edit checks
//! the whole graph as it would be, as create does, and saves nothing when a node is bad.
//! A running flow takes additions and changes (they apply at the next restart, and the graph
//! marks those nodes `has_modify`); deleting a node or replacing the nodes needs it stopped.
use crate::flows::{
    self, catalog, check_specs, insert_nodes, kept_config, nodes_of, rt_fields, DbCatalog,
};
use crate::graph::{self, FromNode, Node, NodeKind, NodeSpec};
use bkdata_databus::{projects, DatabusError};
use bkdata_models::auth::Caller;
use bkdata_models::databus::{Flow, FlowNode};
use bkdata_models::schema::{flow_nodes as fnd, flows as f, result_tables as rt};
use diesel::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Keys of a request body that are not node settings (credentials and ids).
const NOT_SETTINGS: [&str; 8] = [
    "bk_app_code",
    "bk_app_secret",
    "bk_username",
    "bkdata_authentication_method",
    "bk_ticket",
    "flow_id",
    "node_id",
    "from_links",
];

enum Kind {
    Add { new_id: String },
    Patch { node_id: i64 },
    Replace,
}

/// An edit read and resolved against the database, ready for the (async) check.
pub struct Edit {
    flow: Flow,
    kind: Kind,
    specs: Vec<NodeSpec>,
    catalog: DbCatalog,
}

/// The saved nodes as specs whose ids are their platform ids.
fn specs_of(nodes: &[FlowNode]) -> Vec<NodeSpec> {
    let by_id: HashMap<i64, &FlowNode> = nodes.iter().map(|n| (n.node_id, n)).collect();
    nodes
        .iter()
        .map(|n| {
            let mut config = n.config.as_object().cloned().unwrap_or_default();
            for k in ["node_type", "name", "bk_biz_id"] {
                config.remove(k);
            }
            NodeSpec {
                id: json!(n.node_id.to_string()),
                node_type: Some(n.node_type.clone()),
                name: Some(n.node_name.clone()),
                bk_biz_id: Some(json!(n.bk_biz_id)),
                from_nodes: Some(
                    n.inputs
                        .iter()
                        .map(|i| FromNode {
                            id: json!(i.to_string()),
                            from_result_table_ids: by_id
                                .get(i)
                                .map(|p| vec![p.result_table_id.clone()])
                                .unwrap_or_default(),
                        })
                        .collect(),
                ),
                config,
            }
        })
        .collect()
}

fn editable(flow: &Flow, needs_stopped: bool) -> Result<(), DatabusError> {
    let busy = flow.status.is_busy();
    if busy || (needs_stopped && flow.status == bkdata_models::states::FlowStatus::Running) {
        return Err(DatabusError::field(
            "status",
            format!(
                "flow {} is {}: {}",
                flow.flow_id,
                flow.status,
                if busy {
                    "wait for its deploy to finish"
                } else {
                    "stop it first"
                }
            ),
        ));
    }
    Ok(())
}

fn settings(body: &Value) -> Map<String, Value> {
    let mut m = match body.get("config") {
        Some(Value::Object(c)) => c.clone(),
        _ => body.as_object().cloned().unwrap_or_default(),
    };
    for k in NOT_SETTINGS {
        m.remove(k);
    }
    m
}

/// `id` as the client-local ids of [`specs_of`] (platform ids as strings).
fn link_id(v: &Value) -> String {
    graph::id_str(v)
}

/// The node's inputs from bklog's `from_links` (`source.node_id`), `from_nodes`, or the
/// tables it names in `from_result_table_ids`.
fn links(body: &Value, config: &Map<String, Value>, nodes: &[FlowNode]) -> Option<Vec<FromNode>> {
    if let Some(l) = body.get("from_links").and_then(Value::as_array) {
        return Some(
            l.iter()
                .map(|x| FromNode {
                    id: json!(link_id(&x["source"]["node_id"])),
                    from_result_table_ids: Vec::new(),
                })
                .collect(),
        );
    }
    if let Some(from) = config.get("from_nodes").and_then(Value::as_array) {
        return Some(
            from.iter()
                .map(|x| FromNode {
                    id: json!(link_id(&x["id"])),
                    from_result_table_ids: Vec::new(),
                })
                .collect(),
        );
    }
    let tables = config.get("from_result_table_ids")?.as_array()?;
    Some(
        tables
            .iter()
            .filter_map(Value::as_str)
            .map(|t| FromNode {
                // A table no node of the flow produces links nowhere: the check says so.
                id: json!(nodes
                    .iter()
                    .find(|n| n.result_table_id == t && !n.node_type.ends_with("_storage"))
                    .map_or_else(|| format!("(table {t})"), |n| n.node_id.to_string())),
                from_result_table_ids: vec![t.to_string()],
            })
            .collect(),
    )
}

fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
) -> Result<(Flow, Vec<FlowNode>), DatabusError> {
    let flow = flows::get(conn, caller, flow_id)?;
    let nodes = nodes_of(conn, flow_id)?;
    Ok((flow, nodes))
}

fn finish(
    conn: &mut PgConnection,
    caller: &Caller,
    flow: Flow,
    kind: Kind,
    specs: Vec<NodeSpec>,
) -> Result<Edit, DatabusError> {
    let project = projects::get(conn, caller, flow.project_id)?;
    let catalog = catalog(conn, &project, &specs)?;
    Ok(Edit {
        flow,
        kind,
        specs,
        catalog,
    })
}

/// `POST {fid}/nodes/`: bklog's `{node_type, config: {…}, from_links, frontend_info}` or a
/// node as create takes it.
pub fn prepare_add(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    body: &Value,
) -> Result<Edit, DatabusError> {
    let (flow, nodes) = load(conn, caller, flow_id)?;
    editable(&flow, false)?;
    let mut config = settings(body);
    let from_nodes = links(body, &config, &nodes);
    config.remove("from_nodes");
    config.remove("id");
    if let Some(fi) = body.get("frontend_info") {
        config.insert("frontend_info".into(), fi.clone());
    }
    let take = |config: &mut Map<String, Value>, k: &str| {
        config
            .remove(k)
            .or_else(|| body.get(k).cloned())
            .filter(|v| !v.is_null())
    };
    let node_type = take(&mut config, "node_type").and_then(|v| v.as_str().map(str::to_string));
    let name = take(&mut config, "name").and_then(|v| v.as_str().map(str::to_string));
    let bk_biz_id = take(&mut config, "bk_biz_id");
    if let Some(rt) = body
        .get("result_table_id")
        .filter(|_| !config.contains_key("result_table_id"))
    {
        config.insert("result_table_id".into(), rt.clone());
    }
    let new_id = "new".to_string();
    let mut specs = specs_of(&nodes);
    specs.push(NodeSpec {
        id: json!(new_id),
        node_type,
        name,
        bk_biz_id,
        from_nodes,
        config,
    });
    finish(conn, caller, flow, Kind::Add { new_id }, specs)
}

/// `PATCH {fid}/nodes/{nid}/`: the settings sent replace those kept; the rest stay.
pub fn prepare_patch(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    node_id: i64,
    body: &Value,
) -> Result<Edit, DatabusError> {
    let (flow, nodes) = load(conn, caller, flow_id)?;
    editable(&flow, false)?;
    let at = nodes
        .iter()
        .position(|n| n.node_id == node_id)
        .ok_or_else(|| DatabusError::NotFound(format!("flow {flow_id} has no node {node_id}")))?;
    let patch = settings(body);
    let mut specs = specs_of(&nodes);
    let from_nodes = links(body, &patch, &nodes);
    let spec = &mut specs[at];
    for (k, v) in patch {
        match k.as_str() {
            "from_nodes" | "id" | "from_result_table_ids" => {}
            "node_type" if v.as_str() != spec.node_type.as_deref() => {
                return Err(DatabusError::field(
                    "node_type",
                    "a node's type cannot change: delete it and add a new one",
                ))
            }
            "table_name"
                if graph::PROCESSING_TYPES.contains(&nodes[at].node_type.as_str())
                    && spec.config.get("table_name") != Some(&v) =>
            {
                return Err(DatabusError::field(
                    "table_name",
                    "a realtime node's table_name (its result table) cannot change: delete the node and add a new one",
                ))
            }
            "name" => spec.name = v.as_str().map(str::to_string),
            "bk_biz_id" => spec.bk_biz_id = Some(v),
            "node_type" => {}
            _ => {
                spec.config.insert(k, v);
            }
        }
    }
    if let Some(from) = from_nodes {
        spec.from_nodes = Some(from);
    }
    finish(conn, caller, flow, Kind::Patch { node_id }, specs)
}

/// `POST {fid}/create/`: the flow's nodes replaced by those sent (the flow must be stopped).
pub fn prepare_replace(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    body: &Value,
) -> Result<Edit, DatabusError> {
    let (flow, _) = load(conn, caller, flow_id)?;
    editable(&flow, true)?;
    let specs = flows::parse_nodes(body)?;
    finish(conn, caller, flow, Kind::Replace, specs)
}

pub async fn check(e: &Edit) -> Result<Vec<Node>, DatabusError> {
    check_specs(&e.specs, &e.catalog).await
}

/// Keep every realtime node's result table fields as its SQL now gives them.
fn refresh_outputs(conn: &mut PgConnection, nodes: &[Node]) -> QueryResult<()> {
    for n in nodes {
        if let NodeKind::Realtime { fields, .. } = &n.kind {
            diesel::update(rt::table.find(&n.output))
                .set((
                    rt::fields.eq(rt_fields(fields)),
                    rt::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

fn bump_version(conn: &mut PgConnection, caller: &Caller, flow_id: i64) -> QueryResult<usize> {
    diesel::update(f::table.find(flow_id))
        .set((
            f::version.eq(f::version + 1),
            f::updated_by.eq(&caller.username),
            f::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
}

/// Save a checked edit in one transaction (the flow's state is checked again inside it).
pub fn apply(
    conn: &mut PgConnection,
    caller: &Caller,
    e: Edit,
    nodes: Vec<Node>,
) -> Result<Value, DatabusError> {
    let flow_id = e.flow.flow_id;
    conn.transaction(|conn| {
        let flow = flows::get(conn, caller, flow_id)?;
        editable(&flow, matches!(e.kind, Kind::Replace))?;
        let out = match &e.kind {
            Kind::Add { new_id } => {
                let known: HashMap<String, i64> = nodes
                    .iter()
                    .filter(|n| &n.id != new_id)
                    .filter_map(|n| Some((n.id.clone(), n.id.parse().ok()?)))
                    .collect();
                let ids = insert_nodes(conn, caller, flow_id, &e.specs, &nodes, &known)?;
                json!({"flow_id": flow_id, "node_id": ids[0]})
            }
            Kind::Patch { node_id } => {
                let n = nodes
                    .iter()
                    .find(|n| n.id == node_id.to_string())
                    .ok_or_else(|| DatabusError::Internal("patched node lost".into()))?;
                let inputs: Vec<i64> = n.inputs.iter().filter_map(|i| i.parse().ok()).collect();
                diesel::update(fnd::table.find(node_id))
                    .set((
                        fnd::config.eq(kept_config(n)),
                        fnd::node_name.eq(&n.name),
                        fnd::bk_biz_id.eq(n.bk_biz_id),
                        fnd::inputs.eq(&inputs),
                        fnd::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(conn)?;
                json!({"flow_id": flow_id, "node_id": node_id})
            }
            Kind::Replace => {
                let made: Vec<String> = fnd::table
                    .filter(fnd::flow_id.eq(flow_id))
                    .filter(fnd::node_type.eq_any(graph::PROCESSING_TYPES))
                    .select(fnd::result_table_id)
                    .load(conn)?;
                diesel::delete(fnd::table.filter(fnd::flow_id.eq(flow_id))).execute(conn)?;
                diesel::delete(rt::table.filter(rt::result_table_id.eq_any(&made)))
                    .execute(conn)?;
                let ids = insert_nodes(conn, caller, flow_id, &e.specs, &nodes, &HashMap::new())?;
                json!({"flow_id": flow_id, "node_ids": ids})
            }
        };
        refresh_outputs(conn, &nodes)?;
        bump_version(conn, caller, flow_id)?;
        Ok(out)
    })
}

/// Delete a node of a stopped flow; nodes reading it must go first. A realtime node's
/// result table goes with it.
pub fn delete_node(
    conn: &mut PgConnection,
    caller: &Caller,
    flow_id: i64,
    node_id: i64,
) -> Result<(), DatabusError> {
    conn.transaction(|conn| {
        let (flow, nodes) = load(conn, caller, flow_id)?;
        editable(&flow, true)?;
        let n = nodes.iter().find(|n| n.node_id == node_id).ok_or_else(|| {
            DatabusError::NotFound(format!("flow {flow_id} has no node {node_id}"))
        })?;
        if let Some(child) = nodes.iter().find(|c| c.inputs.contains(&node_id)) {
            return Err(DatabusError::field(
                "node_id",
                format!(
                    "node {} ({}) reads node {node_id}: delete it first",
                    child.node_id, child.node_name
                ),
            ));
        }
        diesel::delete(fnd::table.find(node_id)).execute(conn)?;
        if graph::PROCESSING_TYPES.contains(&n.node_type.as_str()) {
            diesel::delete(rt::table.find(&n.result_table_id)).execute(conn)?;
        }
        bump_version(conn, caller, flow_id)?;
        Ok(())
    })
}
