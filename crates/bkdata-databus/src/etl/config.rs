//! The BKData v3 `json_config` as sent on the wire: `{"extract": node, "conf": {...}}`.
//! Unknown keys are ignored (real configs carry `name`, `result`, UI hints and more).
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JsonConfig {
    pub extract: NodeConf,
    #[serde(default)]
    pub conf: Conf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NodeConf {
    Fun(FunConf),
    Access(AccessConf),
    Assign(AssignConf),
    Branch(BranchConf),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FunConf {
    pub method: String,
    #[serde(default)]
    pub args: Vec<Value>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub next: Option<Box<NodeConf>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AccessConf {
    pub subtype: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub index: Option<Value>,
    #[serde(default)]
    pub keys: Option<String>,
    #[serde(default)]
    pub separator: Option<String>,
    #[serde(default)]
    pub default_type: Option<String>,
    #[serde(default)]
    pub default_value: Option<Value>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub next: Option<Box<NodeConf>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AssignConf {
    pub subtype: String,
    /// A list of `{key|index, assign_to, type}` (obj, pos, json) or one object (value).
    pub assign: Value,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BranchConf {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub next: Vec<NodeConf>,
}

/// Time settings of a clean.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Conf {
    /// The assigned field holding the event time; `localTime` means ingest time.
    #[serde(default = "default_time_field")]
    pub time_field_name: String,
    #[serde(default = "default_output_field")]
    pub output_field_name: String,
    /// Java pattern, e.g. `yyyy-MM-dd HH:mm:ss` (for `timestamp_len` 0).
    #[serde(default)]
    pub time_format: Option<String>,
    /// 0: formatted time; 10/13/16: epoch s/ms/µs; 8: epoch minutes.
    #[serde(default)]
    pub timestamp_len: i64,
    /// Hours east of UTC for times without a zone, and for `dtEventTime`.
    #[serde(default = "default_timezone")]
    pub timezone: i64,
    #[serde(default = "default_encoding")]
    pub encoding: String,
}

fn default_time_field() -> String {
    "localTime".into()
}
fn default_output_field() -> String {
    "timestamp".into()
}
fn default_timezone() -> i64 {
    8
}
fn default_encoding() -> String {
    "UTF-8".into()
}

impl Default for Conf {
    fn default() -> Self {
        Conf {
            time_field_name: default_time_field(),
            output_field_name: default_output_field(),
            time_format: None,
            timestamp_len: 0,
            timezone: default_timezone(),
            encoding: default_encoding(),
        }
    }
}
