//! Rows of the databus tables.
use crate::schema::{cleans, data_storages, raw_datas, result_tables, shippers, storage_clusters};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = raw_datas)]
pub struct RawData {
    pub id: i64,
    pub bk_biz_id: i64,
    pub raw_data_name: String,
    pub raw_data_alias: String,
    pub data_encoding: String,
    pub data_scenario: String,
    pub sensitivity: String,
    pub description: String,
    pub maintainer: String,
    pub bk_app_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
    pub records_ingested: i64,
    pub last_ingest_at: Option<DateTime<Utc>>,
    /// `started` or `stopped` (collectorhub stop): a stopped raw data refuses ingest.
    pub collector_status: crate::states::CollectorStatus,
    /// The deploy plan's other parts, answered back as sent.
    pub access_extra: Value,
    /// Partitions of its stream (`storage_partitions`); only ever raised.
    pub partitions: i32,
    /// The JSON field whose value picks a record's partition; `None`: spread evenly.
    pub partition_key: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = result_tables)]
pub struct ResultTable {
    pub result_table_id: String,
    pub bk_biz_id: i64,
    pub result_table_name: String,
    pub result_table_name_alias: String,
    pub processing_type: String,
    pub description: String,
    pub fields: Value,
    pub bk_app_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
    /// Partitions of its stream; a clean's table has its raw data's.
    pub partitions: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cleans)]
pub struct Clean {
    pub processing_id: String,
    pub raw_data_id: i64,
    pub bk_biz_id: i64,
    pub clean_config_name: String,
    pub description: String,
    pub json_config: Value,
    pub status: crate::states::CleanStatus,
    pub bk_app_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
    pub records_in: i64,
    pub rows_out: i64,
    pub errors_total: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub status_message: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = storage_clusters)]
pub struct StorageCluster {
    pub cluster_name: String,
    pub cluster_type: String,
    pub connection: Value,
    pub description: String,
    pub is_default: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_storages)]
pub struct DataStorage {
    pub result_table_id: String,
    pub storage_type: String,
    pub cluster_name: String,
    pub physical_table_name: String,
    pub expires: String,
    pub expire_days: Option<i32>,
    pub storage_config: Value,
    pub fields: Value,
    pub raw_data_id: Option<i64>,
    pub bk_biz_id: i64,
    pub data_type: String,
    pub bk_app_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = shippers)]
pub struct Shipper {
    pub result_table_id: String,
    pub storage_type: String,
    pub status: crate::states::ShipperStatus,
    pub status_message: String,
    pub rows_written: i64,
    pub batches: i64,
    pub dead_letters: i64,
    pub last_seq: i64,
    pub last_write_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Stopped by a DELETE of all the table's tasks: starting the clean starts it again.
    pub stopped_with_clean: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::projects)]
pub struct Project {
    pub project_id: i64,
    pub project_name: String,
    pub description: String,
    pub bk_biz_id: Option<i64>,
    pub bk_app_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::project_data)]
pub struct ProjectData {
    pub project_id: i64,
    pub result_table_id: String,
    pub bk_biz_id: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::flows)]
pub struct Flow {
    pub flow_id: i64,
    pub flow_name: String,
    pub project_id: i64,
    pub status: crate::states::FlowStatus,
    pub is_locked: bool,
    pub version: i32,
    pub description: String,
    pub bk_app_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
    /// What `tool/job/set_resource/` asked for.
    pub resource_settings: Value,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::flow_nodes)]
pub struct FlowNode {
    pub node_id: i64,
    pub flow_id: i64,
    pub node_type: String,
    pub node_name: String,
    pub bk_biz_id: i64,
    pub config: Value,
    pub inputs: Vec<i64>,
    pub result_table_id: String,
    pub status: crate::states::NodeStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub status_message: String,
    pub checkpoint: Option<Value>,
    pub rows_in: i64,
    pub rows_out: i64,
    pub late_rows: i64,
    pub bad_rows: i64,
    pub windows: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::flow_deploys)]
pub struct FlowDeploy {
    pub id: i64,
    pub flow_id: i64,
    pub action: String,
    pub status: crate::states::DeployStatus,
    pub consuming_mode: String,
    pub logs: Value,
    pub progress: f32,
    pub version: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}
