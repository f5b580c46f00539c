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
