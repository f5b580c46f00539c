//! Dataflow and query API shapes (wire reference §4.1), one definition for the server that
//! answers them and the client that reads them. Answers tolerate missing and extra fields
//! (`#[serde(default)]`): BKData versions differ in what they add.
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Ids as numbers or numeric strings (BKData sends both), null as 0.
pub(crate) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not an id"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an id"))),
        Value::Null => Ok(0),
        other => Err(serde::de::Error::custom(format!("{other} is not an id"))),
    }
}

pub(crate) fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    let raw: Vec<Value> = Option::deserialize(d)?.unwrap_or_default();
    raw.into_iter()
        .map(|v| id(v).map_err(serde::de::Error::custom))
        .collect()
}

pub(crate) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => id(v).map(Some).map_err(serde::de::Error::custom),
    }
}

/// `flow/flows/create/` body; also what `{fid}/export/` answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CreateFlowRequest {
    #[serde(deserialize_with = "id")]
    pub project_id: i64,
    pub flow_name: String,
    pub description: String,
    /// Nodes as BKData's clients send them (seed 004): free-form per node type.
    pub nodes: Vec<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CreateFlowResponse {
    #[serde(deserialize_with = "id")]
    pub flow_id: i64,
    /// In the order the nodes were sent.
    #[serde(deserialize_with = "ids")]
    pub node_ids: Vec<i64>,
}

/// `{fid}/start/` and `restart/` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeployRequest {
    /// `continue` (default), `from_tail` or `from_head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consuming_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_group: Option<String>,
}

/// What start, stop and restart answer: the deploy's id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeployTask {
    #[serde(deserialize_with = "id")]
    pub task_id: i64,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "opt_id")]
    pub flow_id: Option<i64>,
}

/// `{fid}/` and each item of the flow list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FlowInfo {
    #[serde(deserialize_with = "id")]
    pub flow_id: i64,
    pub flow_name: String,
    #[serde(deserialize_with = "id")]
    pub project_id: i64,
    /// `no-start`, `starting`, `running`, `stopping`, `failure`.
    pub status: String,
    pub is_locked: bool,
    pub latest_version: String,
    pub bk_app_code: String,
    pub description: String,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
    pub locked_by: Option<String>,
    pub locked_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeployLog {
    pub message: String,
    pub level: String,
    pub time: String,
}

/// `{fid}/latest_deploy_data/` (or `null`) and each item of `deploy_data/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeployData {
    #[serde(deserialize_with = "id")]
    pub id: i64,
    #[serde(deserialize_with = "id")]
    pub flow_id: i64,
    /// `start`, `stop`, `restart`.
    pub action: String,
    /// `pending`, `running`, `success`, `failure` (BKData has a few more).
    pub status: String,
    pub logs: Vec<DeployLog>,
    pub logs_zh: String,
    pub logs_en: String,
    pub progress: f64,
    pub context: Value,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub version: String,
    pub created_by: String,
    pub created_at: Option<String>,
    pub description: String,
}

/// A realtime node's counters (this platform's addition to the graph).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct NodeRuntime {
    pub rows_in: i64,
    pub rows_out: i64,
    pub late_rows: i64,
    pub bad_rows: i64,
    pub windows: i64,
    /// Windows ending at or before this (ms) have been emitted.
    pub emitted_to: Option<i64>,
    pub max_event_time: Option<i64>,
    pub input_position: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GraphNode {
    #[serde(deserialize_with = "id")]
    pub node_id: i64,
    #[serde(deserialize_with = "id")]
    pub flow_id: i64,
    pub node_type: String,
    pub node_name: String,
    /// The settings as sent, with `id` and `from_nodes` by platform node id.
    pub node_config: Value,
    pub status: String,
    pub has_modify: bool,
    pub status_message: String,
    pub runtime: Option<NodeRuntime>,
    pub result_table_ids: Vec<String>,
    pub frontend_info: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GraphLink {
    #[serde(deserialize_with = "id")]
    pub from_node_id: i64,
    #[serde(deserialize_with = "id")]
    pub to_node_id: i64,
    pub frontend_info: Value,
}

/// `{fid}/graph/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FlowGraph {
    #[serde(deserialize_with = "id")]
    pub flow_id: i64,
    pub status: String,
    pub version: String,
    pub nodes: Vec<GraphNode>,
    pub links: Vec<GraphLink>,
}

/// What node add and patch answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct NodeRef {
    #[serde(deserialize_with = "id")]
    pub flow_id: i64,
    #[serde(deserialize_with = "id")]
    pub node_id: i64,
}

/// `dataquery/query/` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct QueryRequest {
    pub sql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefer_storage: Option<String>,
}

/// `dataquery/query/` answer: BKData's fields, then this platform's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct QueryResult {
    pub list: Vec<Map<String, Value>>,
    pub select_fields_order: Vec<String>,
    pub total_records: u64,
    /// Seconds.
    pub timetaken: f64,
    /// More rows matched than `max_rows`.
    pub truncated: bool,
    pub max_rows: Option<u64>,
    pub result_table_ids: Vec<String>,
    /// The storage type that answered.
    pub device: String,
    pub cluster: String,
    /// The SQL as the storage ran it.
    pub sql: String,
}
