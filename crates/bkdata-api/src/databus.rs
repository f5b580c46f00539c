//! Databus, access, meta and storekit shapes (wire reference §2–3): one definition for the
//! server's answers and the client. Answers tolerate missing and extra fields; ids may come
//! as numbers or strings.
use crate::dataflow::{id, opt_id};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A registered raw data (`access/rawdata/`, `databus/rawdatas/{id}/`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawDataInfo {
    #[serde(deserialize_with = "id")]
    pub id: i64,
    #[serde(deserialize_with = "id")]
    pub raw_data_id: i64,
    #[serde(deserialize_with = "id")]
    pub bk_biz_id: i64,
    pub raw_data_name: String,
    pub raw_data_alias: String,
    pub data_encoding: String,
    pub data_scenario: String,
    pub sensitivity: String,
    pub description: String,
    pub maintainer: String,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
    pub records_ingested: i64,
    pub last_ingest_at: Option<String>,
    /// The bus topic (`raw.{id}`) and, on NATS, the subject producers publish to.
    pub topic: String,
    pub subject: Option<String>,
    /// The collector (`started`, or `stopped` by `collectorhub/{id}/stop/`: ingest refused).
    pub status: String,
    pub active: bool,
    /// Partitions of its stream (topics `raw.{id}`, `raw.{id}.p1`, …).
    pub storage_partitions: i64,
    /// The field that picks a record's partition; `None`: spread evenly.
    pub partition_key: Option<String>,
    /// What the deploy plan sent beside these (`tags`, `data_source`, `data_region`,
    /// `data_source_tags`, `data_scenario_id`, `permission`), answered back as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// GET `access/deploy_plan/{raw_data_id}/` (bklog's `get_deploy_summary`): BKData's
/// `{bk_biz_id, data_scenario, access_raw_data, access_conf_info, …}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeployPlanInfo {
    #[serde(deserialize_with = "id")]
    pub raw_data_id: i64,
    #[serde(deserialize_with = "id")]
    pub data_id: i64,
    #[serde(deserialize_with = "id")]
    pub bk_biz_id: i64,
    pub bk_app_code: String,
    pub data_scenario: String,
    pub description: String,
    pub topic: String,
    pub status: String,
    pub active: bool,
    pub access_raw_data: RawDataInfo,
    pub access_conf_info: Value,
}

/// A result table (`result_tables/{rt}/`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ResultTableInfo {
    pub result_table_id: String,
    #[serde(deserialize_with = "id")]
    pub bk_biz_id: i64,
    pub result_table_name: String,
    pub result_table_name_alias: String,
    /// `clean`, `realtime`, …
    pub processing_type: String,
    pub description: String,
    /// `[{field_name, field_type, field_alias, is_dimension, field_index}]`.
    pub fields: Value,
    /// Partitions of its stream (a clean's table has its raw data's).
    pub partitions: i64,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
}

/// A clean (`cleans/`, `cleans/{processing_id}/`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CleanInfo {
    pub processing_id: String,
    pub result_table_id: String,
    #[serde(deserialize_with = "id")]
    pub raw_data_id: i64,
    #[serde(deserialize_with = "id")]
    pub bk_biz_id: i64,
    pub clean_config_name: String,
    pub description: String,
    pub clean_result_table_name: String,
    pub clean_result_table_name_alias: String,
    /// The BKData v3 config, as a JSON string.
    pub json_config: String,
    pub status: String,
    pub status_display: String,
    pub status_message: String,
    pub records_in: i64,
    pub rows_out: i64,
    pub errors_total: i64,
    pub started_at: Option<String>,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
    pub result_table: Option<ResultTableInfo>,
}

/// A data storage (`data_storages/`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataStorageInfo {
    pub result_table_id: String,
    pub result_table_name: String,
    pub result_table_name_alias: String,
    #[serde(deserialize_with = "opt_id")]
    pub raw_data_id: Option<i64>,
    pub data_name: Option<String>,
    pub data_alias: Option<String>,
    pub data_type: String,
    #[serde(deserialize_with = "id")]
    pub bk_biz_id: i64,
    pub storage_type: String,
    pub cluster_type: String,
    pub storage_cluster: String,
    pub physical_table_name: String,
    pub expires: String,
    pub storage_config: Value,
    pub fields: Value,
    /// `running`, `stopped`, `failed`; `status_display` as BKData words it.
    pub status: String,
    pub status_display: String,
    pub status_message: Option<String>,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
}

/// One task of a result table: its clean (`kafka`) or a shipper (by storage type).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StorageTask {
    pub status: String,
    pub status_display: String,
    pub status_message: Option<String>,
    /// Messages not yet consumed, when the bus knows.
    pub lag: Option<u64>,
    pub started_at: Option<String>,
    // The clean's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_out: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors_total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    // A shipper's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_table_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_written: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letters: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_write_at: Option<String>,
}

/// `tasks/{rt}/`: what runs for a result table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TaskState {
    pub result_table_id: String,
    pub status: String,
    pub status_display: String,
    /// By task: `kafka` (the clean) and each storage type.
    pub storages: BTreeMap<String, StorageTask>,
}

/// A project (`meta/projects/`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProjectInfo {
    #[serde(deserialize_with = "id")]
    pub project_id: i64,
    pub project_name: String,
    pub description: String,
    #[serde(deserialize_with = "opt_id")]
    pub bk_biz_id: Option<i64>,
    pub bk_app_code: String,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
}

/// A storage cluster (`storekit/clusters/`); secrets are masked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClusterInfo {
    pub cluster_name: String,
    pub cluster_type: String,
    pub connection_info: Map<String, Value>,
    pub has_password: bool,
    pub description: String,
    pub is_default: bool,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
}

// ---- Requests. Every field is optional on the wire (PUT sends only what changes), so each is
// an `Option` left out when unset; the server checks presence and values itself and names
// the field. Integers may come as numbers or numeric strings.

/// One field of a clean or a storage (`fields: [...]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FieldSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    /// `int`, `long`, `double`, `string`, `text` (default `string`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_dimension: Option<bool>,
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub field_index: Option<i64>,
    /// A storage's column name for the field (default: the field name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_field: Option<String>,
}

impl FieldSpec {
    pub fn new(name: &str, field_type: &str) -> Self {
        Self {
            field_name: Some(name.into()),
            field_type: Some(field_type.into()),
            ..Self::default()
        }
    }
}

/// POST access `rawdata/`: the flat shape, or BKData's access shape with the names inside
/// `access_raw_data` (which then win over the top level).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RawDataRequest {
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub bk_biz_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_data_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_data_alias: Option<String>,
    /// `UTF-8` (the default and the only one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_scenario: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_raw_data: Option<Box<RawDataRequest>>,
    /// The id to register it under (bklog keeps bk-monitor's data id); refused when taken.
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub preassigned_data_id: Option<i64>,
    /// Partitions of its stream (default 1; raise later with `set_partitions/`).
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub storage_partitions: Option<i64>,
    /// The JSON field of a record whose value picks its partition (records with the same
    /// value stay in one partition, in order); absent: records are spread evenly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// Everything else sent; only [`RawDataRequest::EXTRA_KEYS`] are kept.
    #[serde(flatten, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl RawDataRequest {
    pub fn new(bk_biz_id: i64, raw_data_name: &str) -> Self {
        Self {
            bk_biz_id: Some(bk_biz_id),
            raw_data_name: Some(raw_data_name.into()),
            ..Self::default()
        }
    }

    /// The deploy plan's parts kept and answered back as sent (the rest of a body, such as
    /// credentials, is never stored).
    pub const EXTRA_KEYS: [&'static str; 7] = [
        "tags",
        "data_source",
        "data_region",
        "data_source_tags",
        "data_scenario_id",
        "permission",
        "access_conf_info",
    ];

    /// The kept extras, `access_raw_data`'s over the top level's.
    pub fn kept_extra(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let levels = [Some(self), self.access_raw_data.as_deref()];
        for level in levels.into_iter().flatten() {
            for k in Self::EXTRA_KEYS {
                if let Some(v) = level.extra.get(k).filter(|v| !v.is_null()) {
                    out.insert(k.to_string(), v.clone());
                }
            }
        }
        out
    }

    /// One flat request: `access_raw_data`'s fields over the top level's.
    pub fn flattened(&self) -> RawDataRequest {
        let mut out = self.clone();
        if let Some(inner) = out.access_raw_data.take() {
            let inner = inner.flattened();
            macro_rules! over {
                ($($f:ident),*) => { $( if inner.$f.is_some() { out.$f = inner.$f; } )* };
            }
            over!(
                bk_biz_id,
                raw_data_name,
                raw_data_alias,
                data_encoding,
                data_scenario,
                sensitivity,
                description,
                maintainer,
                preassigned_data_id,
                storage_partitions,
                partition_key
            );
        }
        out
    }
}

/// POST `rawdatas/{id}/set_partitions/`, `result_tables/{rt}/set_partitions/` and
/// `cleans/{processing_id}/set_partitions/`: the new count (only ever raised).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SetPartitionsRequest {
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i64>,
}

/// POST/PUT `cleans/` as bklog sends it (wire reference §2.4).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CleanRequest {
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub raw_data_id: Option<i64>,
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub bk_biz_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_table_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_table_name_alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clean_config_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The BKData v3 clean config: a JSON string as bklog sends it (an object is accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldSpec>>,
}

impl CleanRequest {
    /// A new clean of `raw_data_id` into `{biz}_{result_table_name}`; `config` is sent as
    /// the JSON string BKData expects.
    pub fn new(
        raw_data_id: i64,
        result_table_name: &str,
        config: &Value,
        fields: Vec<FieldSpec>,
    ) -> Self {
        Self {
            raw_data_id: Some(raw_data_id),
            result_table_name: Some(result_table_name.into()),
            json_config: Some(Value::String(config.to_string())),
            fields: Some(fields),
            ..Self::default()
        }
    }
}

/// POST `cleans/verify/`: a clean config run on one message, node by node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct VerifyRequest {
    /// The json_config: a JSON string as BKData sends it (an object is accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

impl VerifyRequest {
    pub fn new(config: &Value, msg: &str) -> Self {
        Self {
            conf: Some(Value::String(config.to_string())),
            msg: Some(msg.into()),
        }
    }
}

/// POST/PUT `data_storages/`: a storage of a result table (`result_table_id`, or
/// `bk_biz_id` + `result_table_name` as bklog sends it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataStorageRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_table_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_table_name: Option<String>,
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub bk_biz_id: Option<i64>,
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub raw_data_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// `postgresql`, `mysql`, `tspider`, `redis`, `es`, `queue` (`cluster_type` is read the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_type: Option<String>,
    /// The cluster (`cluster_name` is read the same); the type's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// `7d`, `30d`, `-1` (forever); default `7d`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_table_name: Option<String>,
    /// Per storage type (`key_fields`, `indexed_fields`, …): an object or its JSON string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_config: Option<Value>,
    /// The result table's fields to store; all of them when absent or empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldSpec>>,
}

impl DataStorageRequest {
    pub fn new(result_table_id: &str, storage_type: &str) -> Self {
        Self {
            result_table_id: Some(result_table_id.into()),
            storage_type: Some(storage_type.into()),
            ..Self::default()
        }
    }
}

/// POST `tasks/`: start a result table's tasks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TaskRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_table_id: Option<String>,
    /// Storage types to start: a list, or a comma-separated string; all when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storages: Option<Value>,
}

impl TaskRequest {
    pub fn new(result_table_id: &str, storages: Option<Vec<String>>) -> Self {
        Self {
            result_table_id: Some(result_table_id.into()),
            storages: storages.map(Value::from),
        }
    }
}

/// POST meta `projects/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProjectRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// The biz whose result tables the project reads without grants.
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub bk_biz_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// POST meta `projects/{id}/data/add/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GrantRequest {
    /// bklog's `auth/projects/{id}/data/add/` sends it as `object_id`.
    #[serde(alias = "object_id", skip_serializing_if = "Option::is_none")]
    pub result_table_id: Option<String>,
    /// When sent, must be the result table's biz.
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub bk_biz_id: Option<i64>,
}

/// POST/PUT storekit `clusters/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClusterRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// `postgresql`, `mysql`, `tspider`, `redis`, `es`, `queue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_type: Option<String>,
    /// `{host, port, user, password, …}` per type, an object or its JSON string
    /// (`connection` is read the same); on PUT, secrets left out or sent back masked keep
    /// their value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_send_only_what_is_set() {
        let put = DataStorageRequest {
            expires: Some("3d".into()),
            ..DataStorageRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&put).unwrap(),
            json!({"expires": "3d"})
        );
        let c = CleanRequest::new(
            7,
            "t",
            &json!({"a": 1}),
            vec![FieldSpec::new("ip", "string")],
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"raw_data_id": 7, "result_table_name": "t", "json_config": "{\"a\":1}",
                   "fields": [{"field_name": "ip", "field_type": "string"}]})
        );
    }

    #[test]
    fn bklog_shapes_parse() {
        // bklog sends ids as strings at times, json_config as a string, and extra keys.
        let c: CleanRequest = serde_json::from_value(json!({
            "raw_data_id": "42", "bk_biz_id": 2, "result_table_name": "x", "json_config": "{}",
            "fields": [{"field_name": "ip", "field_index": "1", "unknown": true}], "bk_username": "a"
        }))
        .unwrap();
        assert_eq!((c.raw_data_id, c.bk_biz_id), (Some(42), Some(2)));
        assert_eq!(c.fields.unwrap()[0].field_index, Some(1));
        let bad = serde_json::from_value::<CleanRequest>(json!({"raw_data_id": "x"}));
        assert!(bad.is_err());
        // The access shape: the inner names win.
        let r: RawDataRequest = serde_json::from_value(json!({
            "bk_biz_id": "2", "data_scenario": "log", "raw_data_name": "outer",
            "access_raw_data": {"raw_data_name": "inner", "maintainer": "bob"}
        }))
        .unwrap();
        let f = r.flattened();
        assert_eq!(
            (
                f.bk_biz_id,
                f.raw_data_name.as_deref(),
                f.maintainer.as_deref()
            ),
            (Some(2), Some("inner"), Some("bob"))
        );
        assert_eq!(f.data_scenario.as_deref(), Some("log"));
        assert!(f.access_raw_data.is_none());
    }
}
