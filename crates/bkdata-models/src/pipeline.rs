//! Rows of the data pipeline tables.
use crate::schema::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_pipeline_tasks)]
pub struct Task {
    pub task_id: String,
    pub status: crate::states::TaskStatus,
    pub task_type: String,
    pub parameters: Value,
    pub step_status: Value,
    pub business_context: String,
    pub db_name: Option<String>,
    pub table_list_file: String,
    pub output_directory: String,
    pub current_execution_id: Option<String>,
    pub error_message: Option<String>,
    pub bk_app_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub files_cleaned_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_pipeline_task_executions)]
pub struct Execution {
    pub execution_id: String,
    pub task_id: String,
    pub execution_mode: String,
    pub execution_step: String,
    pub steps: Value,
    pub status: crate::states::ExecutionStatus,
    pub force_execution: bool,
    pub clean_existing_files: bool,
    pub cancel_requested: bool,
    pub worker_id: Option<String>,
    pub child_pid: Option<i32>,
    pub attempts: i32,
    pub error_message: Option<String>,
    pub result: Option<Value>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Execution {
    pub fn step_names(&self) -> Vec<String> {
        serde_json::from_value(self.steps.clone()).unwrap_or_default()
    }
    pub fn is_live(&self) -> bool {
        self.status.is_live()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_pipeline_task_logs)]
pub struct TaskLog {
    pub id: i64,
    pub task_id: String,
    pub execution_id: Option<String>,
    pub step_name: Option<String>,
    pub level: String,
    pub logger_name: String,
    pub message: String,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = data_pipeline_task_outputs)]
pub struct TaskOutput {
    pub id: i64,
    pub task_id: String,
    pub execution_id: Option<String>,
    pub step_name: Option<String>,
    pub file_name: String,
    pub file_type: String,
    pub file_size: i64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = system_metrics)]
pub struct SystemMetric {
    pub id: i64,
    pub worker_id: String,
    pub hostname: String,
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub memory_used_bytes: i64,
    pub memory_total_bytes: i64,
    pub disk_percent: f64,
    pub disk_used_bytes: i64,
    pub disk_total_bytes: i64,
    pub running_executions: i32,
    pub sampled_at: DateTime<Utc>,
}

/// Tasks per status, across all apps (for `/metrics`).
pub fn task_counts(conn: &mut PgConnection) -> QueryResult<Vec<(String, i64)>> {
    data_pipeline_tasks::table
        .group_by(data_pipeline_tasks::status)
        .select((data_pipeline_tasks::status, diesel::dsl::count_star()))
        .load(conn)
}
