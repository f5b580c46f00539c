//! A flow's nodes as BKData's `flow/flows/create/` sends them (wire reference §4.3), checked
//! as a whole: known node types, links to nodes that exist, no cycle, the settings each type
//! needs, realtime SQL against the schemas of its inputs. Errors name the node (its
//! client-local `id` and `name`) and the field.
use crate::rows::{schema_of, TIME_COLUMN};
use crate::window::{WindowConf, WindowType};
use crate::{FlowError, FlowSql};
use datafusion::arrow::datatypes::SchemaRef;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub const SOURCE_TYPES: [&str; 1] = ["stream_source"];
pub const PROCESSING_TYPES: [&str; 1] = ["realtime"];
/// Storage node types and the cluster type each writes to.
pub const STORAGE_TYPES: [(&str, &str); 8] = [
    ("tspider_storage", "tspider"),
    ("mysql_storage", "mysql"),
    ("postgresql_storage", "postgresql"),
    ("redis_storage", "redis"),
    ("elastic_storage", "es"),
    ("queue_storage", "queue"),
    ("tredis_storage", "redis"),
    // This platform's: the input's rows become alert events (cluster `default-alert`).
    ("alert_storage", "alert"),
];

/// A node as sent: the common fields, the rest kept as the node's config.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeSpec {
    pub id: Value,
    #[serde(default)]
    pub node_type: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub bk_biz_id: Option<Value>,
    #[serde(default)]
    pub from_nodes: Option<Vec<FromNode>>,
    #[serde(flatten)]
    pub config: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FromNode {
    pub id: Value,
    #[serde(default)]
    pub from_result_table_ids: Vec<String>,
}

/// A node error: which node, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("node {node} ({name}): {field}: {message}")]
pub struct NodeError {
    pub node: String,
    pub name: String,
    pub field: String,
    pub message: String,
}

/// A checked node.
#[derive(Debug, Clone)]
pub struct Node {
    /// The client-local id, as a string.
    pub id: String,
    pub node_type: String,
    pub name: String,
    pub bk_biz_id: i64,
    pub inputs: Vec<String>,
    /// The result tables this node reads (its parents' outputs).
    pub reads: Vec<String>,
    /// The result table this node produces (sources: the table they name; storage nodes:
    /// the table they store).
    pub output: String,
    pub kind: NodeKind,
    pub config: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Source,
    Realtime {
        sql: String,
        window: WindowConf,
        /// `(field_name, field_type)` of the output, from the SQL.
        fields: Vec<(String, String)>,
    },
    Storage {
        cluster: String,
        cluster_type: &'static str,
    },
}

/// What the checker needs from the platform: the schema of an existing result table the
/// project may read (`None`: no such table, or not readable), and a cluster's type.
pub trait Catalog {
    fn table_fields(&self, result_table_id: &str) -> Option<Vec<(String, String)>>;
    fn cluster_type(&self, name: &str) -> Option<String>;
}

pub(crate) fn id_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn valid_table_name(s: &str) -> bool {
    // ^[a-zA-Z][a-zA-Z0-9]*(_[a-zA-Z0-9]+)*$
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.split('_')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A realtime node's window settings from its config as sent (or as kept).
pub fn window_of(config: &serde_json::Map<String, Value>) -> Result<WindowConf, FlowError> {
    let kind: WindowType = match config.get("window_type") {
        None | Some(Value::Null) => WindowType::None,
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            FlowError::config(
                "window_type",
                format!("{v} is not one of none, scroll, slide, accumulate"),
            )
        })?,
    };
    let num = |k: &str| config.get(k).and_then(int);
    WindowConf::new(
        kind,
        num("count_freq"),
        num("window_time"),
        num("waiting_time"),
    )
}

/// Check a flow's nodes and answer them in an order where every node comes after its inputs.
pub async fn check(
    specs: &[NodeSpec],
    catalog: &(dyn Catalog + Sync),
) -> Result<Vec<Node>, NodeError> {
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        let id = id_str(&s.id);
        if by_id.insert(id.clone(), i).is_some() {
            return Err(err(
                s,
                "id",
                format!("id {id} is used by more than one node"),
            ));
        }
    }
    if specs.is_empty() {
        return Err(NodeError {
            node: "-".into(),
            name: "-".into(),
            field: "nodes".into(),
            message: "a flow needs at least one node".into(),
        });
    }
    // Links first: every from_nodes entry names a node of this flow.
    let mut parents: Vec<Vec<usize>> = Vec::with_capacity(specs.len());
    for s in specs {
        let Some(from) = &s.from_nodes else {
            return Err(err(
                s,
                "from_nodes",
                "is required (an empty list for a source)",
            ));
        };
        let mut ps = Vec::new();
        for f in from {
            let pid = id_str(&f.id);
            let p = by_id
                .get(&pid)
                .copied()
                .ok_or_else(|| err(s, "from_nodes", format!("node {pid} is not in this flow")))?;
            ps.push(p);
        }
        parents.push(ps);
    }
    let order = topo_order(specs, &parents)?;
    let mut done: HashMap<usize, Node> = HashMap::new();
    let mut produced: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for &i in &order {
        let s = &specs[i];
        let node = check_node(s, &parents[i], &done, &produced, catalog).await?;
        if let NodeKind::Realtime { fields, .. } = &node.kind {
            produced.insert(node.output.clone(), fields.clone());
        }
        done.insert(i, node);
    }
    Ok(order.into_iter().filter_map(|i| done.remove(&i)).collect())
}

fn err(s: &NodeSpec, field: &str, message: impl Into<String>) -> NodeError {
    NodeError {
        node: id_str(&s.id),
        name: s.name.clone().unwrap_or_default(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// Kahn's order; a node left over sits on a cycle.
fn topo_order(specs: &[NodeSpec], parents: &[Vec<usize>]) -> Result<Vec<usize>, NodeError> {
    let n = specs.len();
    let mut indeg: Vec<usize> = parents.iter().map(Vec::len).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (c, ps) in parents.iter().enumerate() {
        for &p in ps {
            children[p].push(c);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).rev().collect();
    let mut out = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        out.push(i);
        for &c in children[i].iter().rev() {
            indeg[c] -= 1;
            if indeg[c] == 0 {
                ready.push(c);
            }
        }
    }
    if out.len() < n {
        let stuck = (0..n).find(|i| !out.contains(i)).unwrap_or(0);
        return Err(err(&specs[stuck], "from_nodes", "the links make a cycle"));
    }
    Ok(out)
}

async fn check_node(
    s: &NodeSpec,
    parents: &[usize],
    done: &HashMap<usize, Node>,
    produced: &HashMap<String, Vec<(String, String)>>,
    catalog: &(dyn Catalog + Sync),
) -> Result<Node, NodeError> {
    let node_type = s
        .node_type
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| err(s, "node_type", "is required"))?;
    let name = s.name.clone().unwrap_or_default();
    let biz = s
        .bk_biz_id
        .as_ref()
        .and_then(int)
        .ok_or_else(|| err(s, "bk_biz_id", "is required (an integer)"))?;
    let inputs: Vec<String> = parents.iter().map(|p| done[p].id.clone()).collect();
    let reads: Vec<String> = parents.iter().map(|p| done[p].output.clone()).collect();
    let text = |k: &str| s.config.get(k).and_then(Value::as_str).map(str::trim);
    let (kind, output) = if SOURCE_TYPES.contains(&node_type.as_str()) {
        if !parents.is_empty() {
            return Err(err(s, "from_nodes", "a source reads no other node"));
        }
        let rt = text("result_table_id")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| err(s, "result_table_id", "is required"))?;
        if catalog.table_fields(rt).is_none() {
            return Err(err(
                s,
                "result_table_id",
                format!("result table {rt} does not exist or this project may not read it"),
            ));
        }
        (NodeKind::Source, rt.to_string())
    } else if PROCESSING_TYPES.contains(&node_type.as_str()) {
        if parents.is_empty() {
            return Err(err(s, "from_nodes", "a realtime node needs an input node"));
        }
        let table = text("table_name").unwrap_or_default();
        if !valid_table_name(table) {
            return Err(err(
                s,
                "table_name",
                format!("{table:?} must match ^[a-zA-Z][a-zA-Z0-9]*(_[a-zA-Z0-9]+)*$"),
            ));
        }
        if parents.len() != 1 {
            return Err(err(
                s,
                "from_nodes",
                "a realtime node reads exactly one input node (joins are not supported)",
            ));
        }
        let window = window_of(&s.config).map_err(|e| match e {
            FlowError::Config { field, message } => err(s, &field, message),
            other => err(s, "window_type", other.to_string()),
        })?;
        let sql = text("sql")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| err(s, "sql", "is required"))?;
        let mut tables: Vec<(String, SchemaRef)> = Vec::new();
        for rt in &reads {
            let fields = produced
                .get(rt)
                .cloned()
                .or_else(|| catalog.table_fields(rt))
                .ok_or_else(|| err(s, "from_nodes", format!("input {rt} has no schema")))?;
            tables.push((rt.clone(), schema_of(&fields)));
        }
        let compiled = FlowSql::compile(sql, tables).await.map_err(|e| match e {
            // The field already says it is the SQL.
            FlowError::Sql(m) => err(s, "sql", m),
            other => err(s, "sql", other.to_string()),
        })?;
        let fields: Vec<(String, String)> = compiled
            .output_fields()
            .into_iter()
            .map(|(n, t)| (n, t.to_string()))
            .filter(|(n, _)| n != TIME_COLUMN)
            .collect();
        (
            NodeKind::Realtime {
                sql: sql.to_string(),
                window,
                fields,
            },
            format!("{biz}_{table}"),
        )
    } else if let Some((_, cluster_type)) = STORAGE_TYPES.iter().find(|(t, _)| *t == node_type) {
        if parents.len() != 1 {
            return Err(err(
                s,
                "from_nodes",
                "a storage node stores exactly one input node",
            ));
        }
        let cluster = text("cluster")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| err(s, "cluster", "is required: the storage cluster to write to"))?;
        let have = catalog.cluster_type(cluster).ok_or_else(|| {
            err(
                s,
                "cluster",
                format!("storage cluster {cluster:?} does not exist"),
            )
        })?;
        let fits = have == *cluster_type
            || (*cluster_type == "tspider" && have == "mysql")
            || (*cluster_type == "mysql" && have == "tspider");
        if !fits {
            return Err(err(
                s,
                "cluster",
                format!("{node_type} needs a {cluster_type} cluster; {cluster:?} is {have}"),
            ));
        }
        // A storage node stores its input's table. Its own `result_table_id` is informative:
        // the seed 004 tutorial sends one that differs from the input, and BKData accepts it.
        let stored = reads[0].clone();
        (
            NodeKind::Storage {
                cluster: cluster.to_string(),
                cluster_type,
            },
            stored,
        )
    } else {
        let known: Vec<&str> = SOURCE_TYPES
            .iter()
            .chain(PROCESSING_TYPES.iter())
            .copied()
            .chain(STORAGE_TYPES.iter().map(|(t, _)| *t))
            .collect();
        return Err(err(
            s,
            "node_type",
            format!(
                "unknown node type {node_type:?}: use one of {}",
                known.join(", ")
            ),
        ));
    };
    Ok(Node {
        id: id_str(&s.id),
        node_type,
        name,
        bk_biz_id: biz,
        inputs,
        reads,
        output,
        kind,
        config: s.config.clone(),
    })
}
