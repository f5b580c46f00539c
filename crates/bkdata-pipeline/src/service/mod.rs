//! The operations behind `/api/v0/data_pipeline/`. Blocking (diesel); the server calls them on
//! its blocking pool. Every operation is scoped to the calling app: another app's task is
//! "not found".
use crate::error::{PipelineError, Result};
use crate::executor::{ExecuteJob, ExecutionRun};
use crate::files;
use crate::lifecycle::{initial_steps, missing_dependencies, step_map, step_texts, StepMap};
use crate::timefmt::{compact, wire, wire_opt};
use bkdata_api::pipeline::*;
use bkdata_models::jobs::Job;
use bkdata_models::pipeline::{Execution as ExecRow, Task, TaskLog, TaskOutput};
use bkdata_models::schema::{
    data_pipeline_task_executions as e, data_pipeline_task_logs as l,
    data_pipeline_task_outputs as o, data_pipeline_tasks as t,
};
use bkdata_models::states::{self, ExecutionStatus, StepStatus};
use bkdata_models::PgPool;
use diesel::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const API_PREFIX: &str = "/api/v0/data_pipeline";
pub const MAX_LIST_LIMIT: i64 = 1000;

pub use bkdata_models::auth::Caller;

mod folder;

#[derive(Clone)]
pub struct Service {
    pub pool: PgPool,
    pub data_root: PathBuf,
}

fn enabled_steps(params: &Value) -> Vec<&'static str> {
    let flag = |k: &str| params.get(k).and_then(Value::as_bool).unwrap_or(true);
    STEP_ORDER
        .iter()
        .copied()
        .filter(|s| match *s {
            "sql_validation" => flag("enable_sql_validation"),
            "training_load" => flag("enable_training_data_load"),
            _ => true,
        })
        .collect()
}

fn exec_view(x: &ExecRow) -> Execution {
    let duration = match (x.started_at, x.completed_at) {
        (Some(s), Some(c)) => Some((c - s).num_milliseconds() as f64 / 1000.0),
        _ => None,
    };
    Execution {
        execution_id: x.execution_id.clone(),
        execution_mode: x.execution_mode.clone(),
        execution_step: x.execution_step.clone(),
        steps: x.step_names(),
        status: x.status.to_string(),
        force_execution: x.force_execution,
        clean_existing_files: x.clean_existing_files,
        worker_id: x.worker_id.clone(),
        attempts: x.attempts,
        error_message: x.error_message.clone(),
        requested_by: x.requested_by.clone(),
        created_at: wire(x.created_at),
        started_at: wire_opt(x.started_at),
        completed_at: wire_opt(x.completed_at),
        duration_seconds: duration,
    }
}

fn download_url(task_id: &str, name: &str) -> String {
    format!(
        "{API_PREFIX}/tasks/{task_id}/files/download/{}",
        urlencoding::encode(name)
    )
}

/// Insert with `base`, then `base_2`, `base_3`… when the id is taken (ids carry seconds).
fn insert_unique_id(
    base: &str,
    mut try_insert: impl FnMut(&str) -> QueryResult<usize>,
) -> QueryResult<String> {
    for n in 1..1000 {
        let id = if n == 1 {
            base.to_string()
        } else {
            format!("{base}_{n}")
        };
        if try_insert(&id)? == 1 {
            return Ok(id);
        }
    }
    Err(diesel::result::Error::QueryBuilderError(
        format!("no free id for {base}").into(),
    ))
}

impl Service {
    pub fn new(pool: PgPool, data_root: PathBuf) -> Self {
        Service { pool, data_root }
    }

    pub(crate) fn conn(&self) -> Result<bkdata_models::PgConn> {
        Ok(self.pool.get()?)
    }

    pub fn task_dir(&self, task_id: &str) -> Result<PathBuf> {
        files::task_dir(&self.data_root, task_id)
    }

    /// The caller's task, or not found.
    pub(crate) fn load_task(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        task_id: &str,
    ) -> Result<Task> {
        files::check_task_id(task_id).map_err(|_| PipelineError::task_not_found(task_id))?;
        t::table
            .find(task_id)
            .filter(t::bk_app_code.eq(&caller.app_code))
            .select(Task::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| PipelineError::task_not_found(task_id))
    }

    pub fn create_task(
        &self,
        caller: &Caller,
        req: CreateTaskRequest,
    ) -> Result<CreateTaskResponse> {
        if req.business_context.trim().is_empty() {
            return Err(PipelineError::validation_with(
                "business_context must not be empty",
                json!({"field": "business_context"}),
            ));
        }
        files::check_relative_path("table_list_file", &req.table_list_file)?;
        if let Some(db) = &req.db_name {
            let ok = !db.is_empty()
                && db.len() <= 63
                && db
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(PipelineError::validation_with(
                    format!("invalid db_name {db:?}"),
                    json!({"field": "db_name"}),
                ));
            }
        }
        let params =
            serde_json::to_value(&req).map_err(|e| PipelineError::Internal(e.to_string()))?;
        let enabled = enabled_steps(&params);
        let steps = initial_steps(&enabled);
        let now = chrono::Utc::now();
        let mut conn = self.conn()?;
        let task_id = insert_unique_id(&format!("task_{}", compact(now)), |id| {
            diesel::insert_into(t::table)
                .values((
                    t::task_id.eq(id),
                    t::parameters.eq(&params),
                    t::step_status.eq(json!(steps)),
                    t::business_context.eq(&req.business_context),
                    t::db_name.eq(&req.db_name),
                    t::table_list_file.eq(&req.table_list_file),
                    t::output_directory.eq(self.data_root.join(id).to_string_lossy().to_string()),
                    t::bk_app_code.eq(&caller.app_code),
                    t::created_by.eq(&caller.username),
                    t::created_at.eq(now),
                ))
                .on_conflict(t::task_id)
                .do_nothing()
                .execute(&mut conn)
        })?;
        let dir = self.task_dir(&task_id)?;
        std::fs::create_dir_all(&dir)?;
        let config = json!({"task_id": task_id, "created_at": wire(now), "created_by": caller.username, "parameters": params});
        let body = serde_json::to_vec_pretty(&config).unwrap_or_default();
        std::fs::write(dir.join(files::TASK_CONFIG_FILE), &body)?;
        crate::records::record_output(
            &mut conn,
            &task_id,
            None,
            None,
            &dir,
            files::TASK_CONFIG_FILE,
            &files::sha256_hex(&body),
        )?;
        crate::logs::TaskLogger::new(self.pool.clone(), &dir, &task_id, None).log(
            "INFO",
            None,
            &format!(
                "任务目录日志初始化完成 - 任务ID: {task_id} (created by {})",
                caller.username
            ),
        );
        Ok(CreateTaskResponse {
            task_id,
            status: states::TaskStatus::Pending.to_string(),
            created_at: wire(now),
        })
    }

    /// Validate the request, record a pending execution and queue it, in one transaction.
    pub fn execute(
        &self,
        caller: &Caller,
        task_id: &str,
        req: ExecuteRequest,
    ) -> Result<ExecuteResponse> {
        let mut conn = self.conn()?;
        let task = self.load_task(&mut conn, caller, task_id)?;
        let mode = req.execution_mode.as_deref().unwrap_or("complete");
        let step_status = step_map(&task.step_status);
        let (steps, label): (Vec<String>, String) = match mode {
            "complete" => {
                let steps: Vec<String> = enabled_steps(&task.parameters)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                (steps, "complete".into())
            }
            "step" => {
                let name = req.step_name.as_deref().ok_or_else(|| {
                    PipelineError::validation_with(
                        "step_name is required when execution_mode is \"step\"",
                        json!({"field": "step_name", "valid_steps": STEP_ORDER}),
                    )
                })?;
                if !STEP_ORDER.contains(&name) {
                    return Err(PipelineError::validation_with(
                        format!("unknown step_name {name:?}"),
                        json!({"field": "step_name", "step_name": name, "valid_steps": STEP_ORDER}),
                    ));
                }
                if !req.force_execution {
                    let missing = missing_dependencies(name, &step_status);
                    if !missing.is_empty() {
                        return Err(PipelineError::Dependency {
                            message: format!(
                                "step {name} depends on {} which must complete first (order: {}); use force_execution to skip the check",
                                missing.join(", "),
                                STEP_ORDER.join(" → ")
                            ),
                            details: json!({"step_name": name, "missing_steps": missing, "step_status": step_status}),
                        });
                    }
                }
                (vec![name.to_string()], name.to_string())
            }
            other => {
                return Err(PipelineError::validation_with(
                    format!("unknown execution_mode {other:?}: use \"complete\" or \"step\""),
                    json!({"field": "execution_mode", "valid": ["complete", "step"]}),
                ))
            }
        };
        let now = chrono::Utc::now();
        let base = match mode {
            "step" => format!("{task_id}_step_{label}_exec_{}", compact(now)),
            _ => format!("{task_id}_complete_exec_{}", compact(now)),
        };
        let steps_json = json!(steps);
        let result = conn.transaction::<_, diesel::result::Error, _>(|c| {
            let id = insert_unique_id(&base, |id| {
                diesel::insert_into(e::table)
                    .values((
                        e::execution_id.eq(id),
                        e::task_id.eq(task_id),
                        e::execution_mode.eq(mode),
                        e::execution_step.eq(&label),
                        e::steps.eq(&steps_json),
                        e::force_execution.eq(req.force_execution),
                        e::clean_existing_files.eq(req.clean_existing_files),
                        e::requested_by.eq(&caller.username),
                        e::created_at.eq(now),
                    ))
                    // Only an id clash retries; the one-live-execution index must still fail.
                    .on_conflict(e::execution_id)
                    .do_nothing()
                    .execute(c)
            })?;
            diesel::update(t::table.find(task_id))
                .set((
                    t::current_execution_id.eq(&id),
                    t::status.eq(states::TaskStatus::InProgress),
                    t::error_message.eq(None::<String>),
                    t::updated_at.eq(now),
                ))
                .execute(c)?;
            ExecuteJob::enqueue(
                c,
                &ExecutionRun {
                    execution_id: id.clone(),
                },
            )?;
            Ok(id)
        });
        let execution_id = match result {
            Ok(id) => id,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            )) if info.constraint_name() == Some("data_pipeline_task_executions_one_live") => {
                let live: Option<(String, String)> = e::table
                    .filter(e::task_id.eq(task_id))
                    .filter(e::status.eq_any(ExecutionStatus::LIVE))
                    .select((e::execution_id, e::status))
                    .first(&mut conn)
                    .optional()?;
                return Err(PipelineError::Conflict {
                    message: format!("task {task_id} already has an execution in progress"),
                    details: json!({"task_id": task_id, "execution": live.map(|(id, s)| json!({"execution_id": id, "status": s}))}),
                });
            }
            Err(err) => return Err(err.into()),
        };
        Ok(ExecuteResponse {
            task_id: task_id.to_string(),
            execution_id,
            execution_mode: mode.to_string(),
            step_name: (mode == "step").then_some(label),
            // The seed answers "running": the execution is accepted and queued for a worker.
            status: ExecutionStatus::Running.to_string(),
        })
    }

    pub fn status(&self, caller: &Caller, task_id: &str) -> Result<TaskStatus> {
        let mut conn = self.conn()?;
        let (task, current): (Task, Option<ExecRow>) = t::table
            .left_join(e::table.on(e::execution_id.nullable().eq(t::current_execution_id)))
            .filter(t::task_id.eq(task_id))
            .filter(t::bk_app_code.eq(&caller.app_code))
            .select((Task::as_select(), Option::<ExecRow>::as_select()))
            .first(&mut conn)
            .optional()?
            .ok_or_else(|| PipelineError::task_not_found(task_id))?;
        let current_step = |x: &ExecRow, steps: &StepMap| {
            x.step_names()
                .into_iter()
                .find(|s| steps.get(s) == Some(&StepStatus::Running))
                .unwrap_or_else(|| x.execution_step.clone())
        };
        let step_status = step_map(&task.step_status);
        Ok(TaskStatus {
            current_execution: current.map(|x| CurrentExecution {
                step: current_step(&x, &step_status),
                execution_id: x.execution_id,
                status: x.status.to_string(),
                started_at: wire_opt(x.started_at),
            }),
            task_id: task.task_id,
            status: task.status.to_string(),
            step_status: step_texts(&step_status),
            parameters: task.parameters,
            error_message: task.error_message,
            created_by: task.created_by,
            created_at: wire(task.created_at),
            started_at: wire_opt(task.started_at),
            completed_at: wire_opt(task.completed_at),
            updated_at: wire(task.updated_at),
        })
    }

    pub fn list(
        &self,
        caller: &Caller,
        limit: Option<i64>,
        status: Option<&str>,
    ) -> Result<TaskList> {
        let limit = limit.unwrap_or(50);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(PipelineError::validation_with(
                format!("limit must be between 1 and {MAX_LIST_LIMIT}"),
                json!({"field": "limit", "value": limit}),
            ));
        }
        let status = match status.map(states::TaskStatus::parse).transpose() {
            Ok(s) => s,
            Err(e) => {
                let valid: Vec<&str> = states::TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
                return Err(PipelineError::validation_with(
                    format!("unknown status {:?}", e.text),
                    json!({"field": "status", "valid": valid}),
                ));
            }
        };
        let mut conn = self.conn()?;
        let mut q = t::table
            .filter(t::bk_app_code.eq(&caller.app_code))
            .into_boxed();
        let mut count = t::table
            .filter(t::bk_app_code.eq(&caller.app_code))
            .into_boxed();
        if let Some(s) = status {
            q = q.filter(t::status.eq(s));
            count = count.filter(t::status.eq(s));
        }
        let rows: Vec<Task> = q
            .order((t::created_at.desc(), t::task_id.desc()))
            .limit(limit)
            .select(Task::as_select())
            .load(&mut conn)?;
        let total: i64 = count.count().get_result(&mut conn)?;
        Ok(TaskList {
            tasks: rows
                .into_iter()
                .map(|x| TaskSummary {
                    step_status: step_texts(&step_map(&x.step_status)),
                    task_id: x.task_id,
                    status: x.status.to_string(),
                    business_context: x.business_context,
                    db_name: x.db_name,
                    created_by: x.created_by,
                    created_at: wire(x.created_at),
                    started_at: wire_opt(x.started_at),
                    completed_at: wire_opt(x.completed_at),
                })
                .collect(),
            total,
            limit,
        })
    }

    pub fn executions(&self, caller: &Caller, task_id: &str) -> Result<ExecutionList> {
        let mut conn = self.conn()?;
        self.load_task(&mut conn, caller, task_id)?;
        let rows: Vec<ExecRow> = e::table
            .filter(e::task_id.eq(task_id))
            .order((e::created_at.desc(), e::execution_id.desc()))
            .select(ExecRow::as_select())
            .load(&mut conn)?;
        Ok(ExecutionList {
            task_id: task_id.to_string(),
            executions: rows.iter().map(exec_view).collect(),
        })
    }

    pub fn logs(
        &self,
        caller: &Caller,
        task_id: &str,
        limit: Option<i64>,
        level: Option<&str>,
    ) -> Result<LogList> {
        let limit = limit.unwrap_or(100);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(PipelineError::validation_with(
                format!("limit must be between 1 and {MAX_LIST_LIMIT}"),
                json!({"field": "limit", "value": limit}),
            ));
        }
        let level = level.map(|s| s.to_ascii_uppercase());
        let level = match level.as_deref() {
            Some("WARN") => Some("WARNING".to_string()),
            _ => level,
        };
        if let Some(lv) = &level {
            if !crate::logs::LEVELS.contains(&lv.as_str()) {
                return Err(PipelineError::validation_with(
                    format!("unknown level {lv:?}"),
                    json!({"field": "level", "valid": crate::logs::LEVELS}),
                ));
            }
        }
        let mut conn = self.conn()?;
        self.load_task(&mut conn, caller, task_id)?;
        let mut q = l::table.filter(l::task_id.eq(task_id)).into_boxed();
        let mut count = l::table.filter(l::task_id.eq(task_id)).into_boxed();
        if let Some(lv) = &level {
            q = q.filter(l::level.eq(lv.clone()));
            count = count.filter(l::level.eq(lv.clone()));
        }
        let rows: Vec<TaskLog> = q
            .order(l::id.desc())
            .limit(limit)
            .select(TaskLog::as_select())
            .load(&mut conn)?;
        let total: i64 = count.count().get_result(&mut conn)?;
        Ok(LogList {
            task_id: task_id.to_string(),
            total,
            logs: rows
                .into_iter()
                .rev()
                .map(|x| LogEntry {
                    id: x.id,
                    timestamp: wire(x.timestamp),
                    level: x.level,
                    message: x.message,
                    step_name: x.step_name,
                    execution_id: x.execution_id,
                    logger_name: x.logger_name,
                })
                .collect(),
        })
    }

    /// Cancel the live execution: a pending one at once, a running one by its worker.
    pub fn cancel(&self, caller: &Caller, task_id: &str) -> Result<CancelResponse> {
        let mut conn = self.conn()?;
        self.load_task(&mut conn, caller, task_id)?;
        let live: Option<ExecRow> = e::table
            .filter(e::task_id.eq(task_id))
            .filter(e::status.eq_any(ExecutionStatus::LIVE))
            .select(ExecRow::as_select())
            .first(&mut conn)
            .optional()?;
        let Some(x) = live else {
            return Err(PipelineError::validation_with(
                format!("task {task_id} has no execution in progress to cancel"),
                json!({"task_id": task_id}),
            ));
        };
        let dir = self.task_dir(task_id)?;
        let logger =
            crate::logs::TaskLogger::new(self.pool.clone(), &dir, task_id, Some(&x.execution_id));
        // A pending execution has no worker yet: cancel it here (the job then finds it final).
        let now = chrono::Utc::now();
        let cancelled_now = diesel::update(
            e::table
                .find(&x.execution_id)
                .filter(e::status.eq(ExecutionStatus::Pending)),
        )
        .set((
            e::status.eq(ExecutionStatus::Cancelled),
            e::cancel_requested.eq(true),
            e::completed_at.eq(now),
            e::error_message.eq(format!("cancelled by {}", caller.username)),
        ))
        .execute(&mut conn)?;
        if cancelled_now == 1 {
            crate::records::settle_task_status(&mut conn, task_id)?;
            logger.log(
                "WARNING",
                None,
                &format!(
                    "execution {} cancelled by {} before it started",
                    x.execution_id, caller.username
                ),
            );
            return Ok(CancelResponse {
                task_id: task_id.into(),
                execution_id: x.execution_id,
                status: ExecutionStatus::Cancelled.to_string(),
            });
        }
        diesel::update(e::table.find(&x.execution_id))
            .set(e::cancel_requested.eq(true))
            .execute(&mut conn)?;
        logger.log(
            "WARNING",
            None,
            &format!(
                "cancel of execution {} requested by {}",
                x.execution_id, caller.username
            ),
        );
        Ok(CancelResponse {
            task_id: task_id.into(),
            execution_id: x.execution_id,
            status: "cancelling".into(),
        })
    }

    pub(crate) fn exec_views(conn: &mut PgConnection, task_id: &str) -> Result<Vec<Execution>> {
        let rows: Vec<ExecRow> = e::table
            .filter(e::task_id.eq(task_id))
            .order(e::created_at.desc())
            .select(ExecRow::as_select())
            .load(conn)?;
        Ok(rows.iter().map(exec_view).collect())
    }
}
