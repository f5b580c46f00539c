//! bklog's four ETL types (`bk_log_text`, `bk_log_json`, `bk_log_delimiter`,
//! `bk_log_regexp`) built into a v3 `json_config` the way bklog builds them
//! (wire reference §3.2), so they run on the same engine. All four read the GSE envelope
//! `{serverIp, path, gseIndex, utctime, …, items: [{data, …}]}`:
//!
//! `from_json → branch[ access "items" → iterate → <per type>, assign_obj built-ins, assign_json ext ]`
use super::{CleanPlan, ConfigError};
use serde::Deserialize;
use serde_json::{json, Value};

pub const ETL_TYPES: [&str; 4] = [
    "bk_log_text",
    "bk_log_json",
    "bk_log_delimiter",
    "bk_log_regexp",
];

/// A field as bklog sends it.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct BklogField {
    pub field_name: String,
    #[serde(default)]
    pub alias_name: Option<String>,
    #[serde(default)]
    pub field_type: Option<String>,
    #[serde(default)]
    pub is_delete: bool,
    #[serde(default)]
    pub is_time: bool,
    #[serde(default)]
    pub field_index: Option<usize>,
    #[serde(default)]
    pub option: Value,
}

/// `etl_params` as bklog sends them (the ones that shape the extract tree).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct EtlParams {
    #[serde(default)]
    pub separator: Option<String>,
    #[serde(default)]
    pub separator_regexp: Option<String>,
    #[serde(default)]
    pub retain_original_text: bool,
}

/// ES types (as bklog declares fields) to BKData types.
pub fn bkdata_type(es_type: &str) -> &'static str {
    match es_type {
        "integer" | "int" => "int",
        "long" => "long",
        "double" | "float" => "double",
        "text" | "object" | "nested" => "text",
        _ => "string",
    }
}

/// The built-in row fields of the GSE envelope (bklog `collector_scenario/row.py`).
fn builtins() -> Value {
    json!([
        {"key": "bk_host_id", "assign_to": "bk_host_id", "type": "long"},
        {"key": "cloudId", "assign_to": "cloudid", "type": "long"},
        {"key": "serverIp", "assign_to": "ip", "type": "string"},
        {"key": "path", "assign_to": "filename", "type": "string"},
        {"key": "gseIndex", "assign_to": "gseindex", "type": "long"},
        {"key": "utctime", "assign_to": "utctime", "type": "string"},
    ])
}

fn user_fields(fields: &[BklogField]) -> impl Iterator<Item = &BklogField> {
    fields
        .iter()
        .filter(|f| !f.is_delete && !f.field_name.is_empty())
}

fn assign_item(f: &BklogField, key: Value, key_name: &str) -> Value {
    let mut item = json!({"assign_to": f.field_name, "type": bkdata_type(f.field_type.as_deref().unwrap_or("string"))});
    item[key_name] = key;
    item
}

/// The json_config bklog would send for this ETL type.
pub fn json_config(
    etl_config: &str,
    params: &EtlParams,
    fields: &[BklogField],
) -> Result<Value, ConfigError> {
    let data = |next: Value| json!({"type": "access", "subtype": "access_obj", "label": "bk_data", "key": "data", "next": next});
    let per_item = match etl_config {
        "bk_log_text" => json!({"type": "assign", "subtype": "assign_obj", "label": "bk_text",
            "assign": [{"key": "data", "assign_to": "log", "type": "text"}]}),
        "bk_log_json" => {
            // Object fields keep their JSON (assign_json); the rest are cast (assign_obj).
            let key_of = |f: &BklogField| {
                json!(f
                    .alias_name
                    .clone()
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| f.field_name.clone()))
            };
            let is_object =
                |f: &BklogField| matches!(f.field_type.as_deref(), Some("object" | "nested"));
            let plain: Vec<Value> = user_fields(fields)
                .filter(|f| !is_object(f))
                .map(|f| assign_item(f, key_of(f), "key"))
                .collect();
            let objects: Vec<Value> = user_fields(fields)
                .filter(|f| is_object(f))
                .map(|f| assign_item(f, key_of(f), "key"))
                .collect();
            let obj_node = json!({"type": "assign", "subtype": "assign_obj", "label": "bk_json_fields", "assign": plain});
            let next = if objects.is_empty() {
                obj_node
            } else {
                json!({"type": "branch", "label": "bk_json_branch", "next": [obj_node,
                    {"type": "assign", "subtype": "assign_json", "label": "bk_json_objects", "assign": objects}]})
            };
            data(json!({"type": "fun", "method": "from_json", "label": "bk_json", "next": next}))
        }
        "bk_log_delimiter" => {
            let sep = params
                .separator
                .clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ConfigError("bk_log_delimiter needs etl_params.separator".into()))?;
            let mut assign = Vec::new();
            for f in user_fields(fields) {
                let idx = f.field_index.filter(|i| *i >= 1).ok_or_else(|| {
                    ConfigError(format!("field {} needs field_index (from 1)", f.field_name))
                })?;
                assign.push(assign_item(f, json!((idx - 1).to_string()), "index"));
            }
            data(
                json!({"type": "fun", "method": "split", "label": "bk_split", "args": [sep],
                "next": {"type": "assign", "subtype": "assign_pos", "label": "bk_delimiter_fields", "assign": assign}}),
            )
        }
        "bk_log_regexp" => {
            let re = params
                .separator_regexp
                .clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ConfigError("bk_log_regexp needs etl_params.separator_regexp".into())
                })?;
            // bklog rewrites Python's (?P<name> to Java's (?<name>.
            let re = re.replace("(?P<", "(?<");
            let assign: Vec<Value> = user_fields(fields)
                .map(|f| assign_item(f, json!(f.field_name), "key"))
                .collect();
            data(
                json!({"type": "fun", "method": "regex_extract", "label": "bk_regex", "args": [{"result": "bk_separator_object", "regexp": re, "keys": []}],
                "next": {"type": "assign", "subtype": "assign_obj", "label": "bk_regexp_fields", "assign": assign}}),
            )
        }
        other => {
            return Err(ConfigError(format!(
                "unknown etl_config {other:?}: use one of {}",
                ETL_TYPES.join(", ")
            )))
        }
    };
    let mut item_branch = vec![per_item];
    item_branch.push(
        json!({"type": "assign", "subtype": "assign_obj", "label": "bk_iteration",
        "assign": [{"key": "iterationIndex", "assign_to": "iterationindex", "type": "long"}, {"key": "iterationindex", "assign_to": "iterationindex", "type": "long"}]}),
    );
    if params.retain_original_text && etl_config != "bk_log_text" {
        item_branch.push(
            json!({"type": "assign", "subtype": "assign_obj", "label": "bk_original_text",
            "assign": [{"key": "data", "assign_to": "log", "type": "text"}]}),
        );
    }
    // The event time: a user field marked is_time with its format, else the envelope's utctime.
    let conf = match user_fields(fields).find(|f| f.is_time) {
        Some(f) => {
            let fmt = f
                .option
                .get("time_format")
                .and_then(Value::as_str)
                .unwrap_or("yyyy-MM-dd HH:mm:ss");
            let (len, fmt) = match fmt {
                "epoch_second" => (10, String::new()),
                "epoch_millis" => (13, String::new()),
                "epoch_micros" => (16, String::new()),
                java => (0, java.replace("YY", "yy").replace("DD", "dd")),
            };
            let tz = f
                .option
                .get("time_zone")
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .unwrap_or(8);
            json!({"time_field_name": f.field_name, "time_format": fmt, "timestamp_len": len, "timezone": tz, "output_field_name": "timestamp", "encoding": "UTF-8"})
        }
        None => {
            json!({"time_field_name": "utctime", "time_format": "yyyy-MM-dd HH:mm:ss", "timestamp_len": 0, "timezone": 0, "output_field_name": "timestamp", "encoding": "UTF-8"})
        }
    };
    Ok(json!({
        // Built-ins first: when a user field has a built-in's name, the user's value wins
        // (a later branch overwrites an earlier one).
        "extract": {"type": "fun", "method": "from_json", "label": "bk_envelope", "next": {"type": "branch", "label": "bk_root", "next": [
            {"type": "assign", "subtype": "assign_obj", "label": "bk_builtins", "assign": builtins()},
            {"type": "assign", "subtype": "assign_json", "label": "bk_ext", "assign": [{"key": "__ext", "assign_to": "ext", "type": "text"}]},
            {"type": "access", "subtype": "access_obj", "label": "bk_items", "key": "items",
             "next": {"type": "fun", "method": "iterate", "label": "bk_iterate",
               "next": {"type": "branch", "label": "bk_item", "next": item_branch}}}
        ]}},
        "conf": conf,
    }))
}

/// Compile a bklog ETL type straight to a plan.
pub fn compile(
    etl_config: &str,
    params: &EtlParams,
    fields: &[BklogField],
) -> Result<CleanPlan, ConfigError> {
    CleanPlan::compile_value(json_config(etl_config, params, fields)?)
}
