//! Rows of the databus tables.
use crate::schema::raw_datas;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

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
}
