//! The two logs of a task: rows in `data_pipeline_task_logs` and lines in the task folder's
//! `data_pipeline.log`.
use crate::timefmt;
use bkdata_models::schema::data_pipeline_task_logs as l;
use bkdata_models::PgPool;
use diesel::prelude::*;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub const LOG_FILE: &str = "data_pipeline.log";
pub const LEVELS: [&str; 4] = ["DEBUG", "INFO", "WARNING", "ERROR"];

pub struct TaskLogger {
    pool: PgPool,
    task_id: String,
    execution_id: Option<String>,
    logger_name: String,
    file: Mutex<Option<File>>,
}

impl TaskLogger {
    pub fn new(pool: PgPool, task_dir: &Path, task_id: &str, execution_id: Option<&str>) -> Self {
        let file = std::fs::create_dir_all(task_dir)
            .and_then(|_| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(task_dir.join(LOG_FILE))
            })
            .map_err(|e| log::error!("cannot open the log file of {task_id}: {e}"))
            .ok();
        TaskLogger {
            pool,
            task_id: task_id.to_string(),
            execution_id: execution_id.map(str::to_string),
            logger_name: format!("TaskDir_{task_id}"),
            file: Mutex::new(file),
        }
    }

    /// Write one line to both logs. A failure of one never hides the line from the other.
    pub fn log(&self, level: &str, step: Option<&str>, message: &str) {
        let now = chrono::Utc::now();
        let prefix = step.map(|s| format!("[{s}] ")).unwrap_or_default();
        if let Some(f) = self.file.lock().unwrap().as_mut() {
            let _ = writeln!(
                f,
                "{} [{level}] {}: {prefix}{message}",
                timefmt::log_line(now),
                self.logger_name
            );
        }
        let res = self
            .pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                diesel::insert_into(l::table)
                    .values((
                        l::task_id.eq(&self.task_id),
                        l::execution_id.eq(&self.execution_id),
                        l::step_name.eq(step),
                        l::level.eq(level),
                        l::logger_name.eq(&self.logger_name),
                        l::message.eq(message),
                        l::timestamp.eq(now),
                    ))
                    .execute(&mut c)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = res {
            log::error!("task {} log row lost ({e}): {message}", self.task_id);
        }
    }
}
