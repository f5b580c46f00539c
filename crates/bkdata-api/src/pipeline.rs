//! Request and response shapes of `/api/v0/data_pipeline/` (seed 002).
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The steps in their fixed order: each depends on the one before.
pub const STEP_ORDER: [&str; 4] = [
    "ddl_generation",
    "qa_generation",
    "sql_validation",
    "training_load",
];

/// POST `tasks`. Unknown fields (such as credentials sent in the body) are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTaskRequest {
    pub table_list_file: String,
    pub business_context: String,
    #[serde(default)]
    pub db_name: Option<String>,
    #[serde(default = "yes")]
    pub enable_sql_validation: bool,
    #[serde(default = "yes")]
    pub enable_llm_repair: bool,
    #[serde(default = "yes")]
    pub modify_original_file: bool,
    #[serde(default = "yes")]
    pub enable_training_data_load: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTaskResponse {
    pub task_id: String,
    pub status: String,
    pub created_at: String,
}

/// POST `tasks/{task_id}/execute`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecuteRequest {
    #[serde(default)]
    pub execution_mode: Option<String>,
    #[serde(default)]
    pub step_name: Option<String>,
    #[serde(default)]
    pub force_execution: bool,
    #[serde(default)]
    pub clean_existing_files: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecuteResponse {
    pub task_id: String,
    pub execution_id: String,
    pub execution_mode: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub step_name: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurrentExecution {
    pub execution_id: String,
    pub step: String,
    pub status: String,
    pub started_at: Option<String>,
}

/// GET `tasks/{task_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: String,
    pub status: String,
    pub step_status: BTreeMap<String, String>,
    pub current_execution: Option<CurrentExecution>,
    pub parameters: Value,
    pub error_message: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskSummary {
    pub task_id: String,
    pub status: String,
    pub step_status: BTreeMap<String, String>,
    pub business_context: String,
    pub db_name: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskList {
    pub tasks: Vec<TaskSummary>,
    pub total: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Execution {
    pub execution_id: String,
    pub execution_mode: String,
    pub execution_step: String,
    pub steps: Vec<String>,
    pub status: String,
    pub force_execution: bool,
    pub clean_existing_files: bool,
    pub worker_id: Option<String>,
    pub attempts: i32,
    pub error_message: Option<String>,
    pub requested_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionList {
    pub task_id: String,
    pub executions: Vec<Execution>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogEntry {
    pub id: i64,
    pub timestamp: String,
    pub level: String,
    pub message: String,
    pub step_name: Option<String>,
    pub execution_id: Option<String>,
    pub logger_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogList {
    pub task_id: String,
    pub logs: Vec<LogEntry>,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub file_name: String,
    pub file_type: String,
    pub file_size: u64,
    pub modified_at: String,
    pub download_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileList {
    pub task_id: String,
    pub files: Vec<FileEntry>,
    pub total_size: u64,
}

/// POST `tasks/{task_id}/files/archive`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ArchiveRequest {
    #[serde(default)]
    pub archive_format: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveResponse {
    pub task_id: String,
    pub archive_name: String,
    pub archive_format: String,
    pub archive_size: u64,
    pub file_count: usize,
    pub download_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrityEntry {
    pub file_name: String,
    pub file_size: u64,
    pub sha256: String,
    /// `ok` (matches what the step recorded), `modified`, `missing` or `untracked`.
    pub status: String,
    pub recorded_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrityReport {
    pub task_id: String,
    pub files: Vec<IntegrityEntry>,
    pub all_valid: bool,
}

/// POST `files/cleanup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CleanupRequest {
    #[serde(default)]
    pub days_to_keep: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CleanupResponse {
    pub days_to_keep: i64,
    pub cleaned_tasks: Vec<String>,
    pub deleted_files: u64,
    pub freed_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelResponse {
    pub task_id: String,
    pub execution_id: String,
    pub status: String,
}

/// One item of the training store found by `GET training_data`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainingItem {
    pub id: i64,
    /// `ddl`, `documentation` or `sql`.
    #[serde(rename = "type")]
    pub data_type: String,
    pub db_name: String,
    /// A pair's question (`sql` items only).
    pub question: Option<String>,
    /// The DDL, the document, or a pair's SQL.
    pub content: String,
    /// Similarity to the query, 0..1.
    pub score: f64,
    pub task_id: String,
    pub source_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainingSearch {
    pub total: usize,
    pub items: Vec<TrainingItem>,
}

/// POST `tasks/{id}/upload-table-list`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UploadResponse {
    pub task_id: String,
    pub file_name: String,
    pub file_size: u64,
    pub sha256: String,
    pub tables: usize,
}

/// A business database a task may name, without secrets (`GET databases`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BusinessDatabase {
    pub db_name: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub description: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BusinessDatabaseList {
    pub databases: Vec<BusinessDatabase>,
}
