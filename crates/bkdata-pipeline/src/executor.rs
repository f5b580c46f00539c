//! Running an execution. The worker's job handler (`ExecuteJob`) starts one child process per
//! execution (the seed's process isolation) and watches it: cancel kills it, its death marks
//! the execution failed with the reason in both logs. The child (`run_child`) runs the steps in
//! order, recording step status, outputs and logs as it goes. A resumed execution (its first
//! worker died) skips the steps it already completed.
use crate::error::{PipelineError, Result};
use crate::files;
use crate::lifecycle::{missing_dependencies, step_map};
use crate::logs::TaskLogger;
use crate::records::{
    completed_steps, finish_execution, lock_live_execution, record_output, set_step_status,
};
use crate::steps::{StepContext, StepRegistry};
use bkdata_models::jobs::BoxFuture;
use bkdata_models::jobs::{ClaimedJob, Job, JobContext, JobResult};
use bkdata_models::pipeline::{Execution, Task};
use bkdata_models::schema::{
    data_pipeline_task_executions as e, data_pipeline_task_outputs as o, data_pipeline_tasks as t,
};
use bkdata_models::states::{ExecutionStatus, StepStatus, TaskStatus};
use bkdata_models::PgPool;
use diesel::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".into()
    }
}

/// End the execution as cancelled, saying why in the step's log.
fn cancel_now(
    conn: &mut PgConnection,
    logger: &TaskLogger,
    execution_id: &str,
    step: &str,
    why: &str,
) -> Result<()> {
    logger.log("WARNING", Some(step), why);
    finish_execution(
        conn,
        execution_id,
        ExecutionStatus::Cancelled,
        Some("cancelled by request"),
    )?;
    Ok(())
}

/// The child process: run the steps of one execution. Answers the process exit code;
/// step failures are recorded and are not process failures.
pub fn run_child(
    pool: PgPool,
    registry: &StepRegistry,
    data_root: PathBuf,
    execution_id: &str,
) -> Result<()> {
    let mut conn = pool.get()?;
    let x: Execution = e::table
        .find(execution_id)
        .select(Execution::as_select())
        .first(&mut conn)
        .optional()?
        .ok_or_else(|| {
            PipelineError::NotFound(format!("execution {execution_id} does not exist"))
        })?;
    if x.status != ExecutionStatus::Running {
        return Err(PipelineError::validation(format!(
            "execution {execution_id} is {}, not running",
            x.status
        )));
    }
    let task: Task = t::table
        .find(&x.task_id)
        .select(Task::as_select())
        .first(&mut conn)?;
    let dir = files::task_dir(&data_root, &task.task_id)?;
    let logger = TaskLogger::new(pool.clone(), &dir, &task.task_id, Some(execution_id));
    let done = completed_steps(&x);
    let label = x.execution_step.clone();

    if x.clean_existing_files && done.is_empty() {
        let mut removed = 0;
        // The task's inputs stay: its config, its log, and a table list uploaded to it.
        let keep = [
            files::TASK_CONFIG_FILE,
            crate::logs::LOG_FILE,
            task.table_list_file.as_str(),
        ];
        for f in files::list(&dir)? {
            if !keep.contains(&f.name.as_str()) {
                std::fs::remove_file(dir.join(&f.name))?;
                removed += 1;
            }
        }
        diesel::delete(
            o::table
                .filter(o::task_id.eq(&task.task_id))
                .filter(o::file_name.ne_all(keep)),
        )
        .execute(&mut conn)?;
        logger.log(
            "INFO",
            Some(&label),
            &format!("clean_existing_files: removed {removed} file(s) from the task folder"),
        );
    }
    logger.log(
        "INFO",
        Some(&label),
        &format!(
            "开始执行步骤: {label} (execution {execution_id}, steps: {})",
            x.step_names().join(", ")
        ),
    );

    let cancel_pool = pool.clone();
    let exec_id = execution_id.to_string();
    let cancel_check = move || -> bool {
        cancel_pool
            .get()
            .ok()
            .and_then(|mut c| {
                e::table
                    .find(&exec_id)
                    .select(e::cancel_requested)
                    .first::<bool>(&mut c)
                    .ok()
            })
            .unwrap_or(false)
    };

    let mut finished = done.clone();
    for step_name in x.step_names() {
        if done.contains(&step_name) {
            logger.log(
                "INFO",
                Some(&step_name),
                "already completed by an earlier attempt of this execution; skipped",
            );
            continue;
        }
        if cancel_check() {
            return cancel_now(
                &mut conn,
                &logger,
                execution_id,
                &step_name,
                "execution cancelled before this step",
            );
        }
        // The engine enforces the order even if the state changed since the request.
        if x.execution_mode == "step" && !x.force_execution {
            let status = step_map(
                &t::table
                    .find(&task.task_id)
                    .select(t::step_status)
                    .first::<Value>(&mut conn)?,
            );
            let missing = missing_dependencies(&step_name, &status);
            if !missing.is_empty() {
                let msg = format!(
                    "依赖检查失败: step {step_name} needs {} completed first",
                    missing.join(", ")
                );
                logger.log("ERROR", Some(&step_name), &msg);
                finish_execution(&mut conn, execution_id, ExecutionStatus::Failed, Some(&msg))?;
                return Ok(());
            }
        }
        set_step_status(&mut conn, &task.task_id, &step_name, StepStatus::Running)?;
        logger.log(
            "INFO",
            Some(&step_name),
            &format!("开始执行步骤: {step_name}"),
        );
        let started = std::time::Instant::now();
        let Some(step) = registry.get(&step_name) else {
            let msg = format!("step {step_name} has no implementation on this worker");
            logger.log("ERROR", Some(&step_name), &msg);
            finish_execution(&mut conn, execution_id, ExecutionStatus::Failed, Some(&msg))?;
            return Ok(());
        };
        let mut ctx = StepContext {
            task_id: task.task_id.clone(),
            execution_id: execution_id.to_string(),
            step_name: step_name.clone(),
            parameters: task.parameters.clone(),
            task_dir: dir.clone(),
            app_code: task.bk_app_code.clone(),
            pool: pool.clone(),
            logger: &logger,
            outputs: Vec::new(),
            cancel_check: &cancel_check,
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step.run(&mut ctx)));
        let record = |conn: &mut PgConnection, name: &str, sha: &str| {
            record_output(
                conn,
                &x.task_id,
                Some(execution_id),
                Some(&step_name),
                &dir,
                name,
                sha,
            )
        };
        // What the step wrote is recorded whatever its outcome.
        for (name, sha) in std::mem::take(&mut ctx.outputs) {
            record(&mut conn, &name, &sha)?;
        }
        let failure = match outcome {
            Ok(Ok(value)) => {
                let result_name = format!("{step_name}_result.json");
                let body = serde_json::to_vec_pretty(&json!({
                    "step": step_name,
                    "execution_id": execution_id,
                    "status": StepStatus::Completed,
                    "duration_seconds": started.elapsed().as_secs_f64(),
                    "result": value,
                }))
                .unwrap_or_default();
                std::fs::write(dir.join(&result_name), &body)?;
                record(&mut conn, &result_name, &files::sha256_hex(&body))?;
                finished.push(step_name.clone());
                conn.transaction::<_, PipelineError, _>(|c| {
                    set_step_status(c, &task.task_id, &step_name, StepStatus::Completed)?;
                    diesel::update(e::table.find(execution_id))
                        .set(e::result.eq(json!({"completed_steps": finished})))
                        .execute(c)?;
                    Ok(())
                })?;
                logger.log(
                    "INFO",
                    Some(&step_name),
                    &format!(
                        "步骤完成: {step_name} ({:.3}s)",
                        started.elapsed().as_secs_f64()
                    ),
                );
                None
            }
            Ok(Err(err)) => Some(format!("step {step_name} failed: {err}")),
            Err(panic) => Some(format!(
                "step {step_name} panicked: {}",
                panic_message(&*panic)
            )),
        };
        if let Some(msg) = failure {
            // A step that stops because it saw the cancel request was cancelled, not failed.
            if cancel_check() {
                return cancel_now(
                    &mut conn,
                    &logger,
                    execution_id,
                    &step_name,
                    &format!("step stopped on cancel request ({msg})"),
                );
            }
            logger.log("ERROR", Some(&step_name), &msg);
            finish_execution(&mut conn, execution_id, ExecutionStatus::Failed, Some(&msg))?;
            return Ok(());
        }
    }
    finish_execution(&mut conn, execution_id, ExecutionStatus::Completed, None)?;
    let status = t::table
        .find(&task.task_id)
        .select((t::status, t::step_status))
        .first::<(TaskStatus, Value)>(&mut conn)?;
    let result = json!({"task_id": task.task_id, "execution_id": execution_id, "status": status.0, "step_status": status.1, "completed_at": crate::timefmt::wire(chrono::Utc::now())});
    let body = serde_json::to_vec_pretty(&result).unwrap_or_default();
    std::fs::write(dir.join("task_result.json"), &body)?;
    let sha = files::sha256_hex(&body);
    record_output(
        &mut conn,
        &task.task_id,
        Some(execution_id),
        None,
        &dir,
        "task_result.json",
        &sha,
    )?;
    logger.log(
        "INFO",
        Some(&label),
        &format!("执行完成: {label}, task status {}", status.0),
    );
    Ok(())
}

/// How the worker starts a child: `{exe} {args..} {execution_id}`.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub child_exe: PathBuf,
    pub child_args: Vec<String>,
    pub database_url: String,
    pub data_root: PathBuf,
    /// How often a running execution is checked for a cancel request.
    pub cancel_poll: Duration,
}

/// The `pipeline_execute` job.
#[derive(Clone)]
pub struct ExecuteJob {
    cfg: Arc<ExecutorConfig>,
    pool: PgPool,
    running: Arc<AtomicUsize>,
}

impl ExecuteJob {
    pub fn new(cfg: ExecutorConfig, pool: PgPool) -> Self {
        ExecuteJob {
            cfg: Arc::new(cfg),
            pool,
            running: Arc::default(),
        }
    }

    /// Executions this worker is running now (sampled into `system_metrics`).
    pub fn running(&self) -> Arc<AtomicUsize> {
        self.running.clone()
    }

    fn logger(&self, task_id: &str, execution_id: &str) -> Result<TaskLogger> {
        let dir = files::task_dir(&self.cfg.data_root, task_id)?;
        Ok(TaskLogger::new(
            self.pool.clone(),
            &dir,
            task_id,
            Some(execution_id),
        ))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PgConnection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        bkdata_models::db::blocking(&self.pool, f).await
    }

    async fn run_job(self, job: ExecutionRun, ctx: JobContext) -> Result<()> {
        let execution_id = job.execution_id;
        let (eid, worker, attempt) = (
            execution_id.clone(),
            ctx.worker_id.clone(),
            ctx.job.attempts,
        );
        // Claim the execution for this worker (idempotent: a final execution is left alone).
        let claimed: Option<(Execution, bool)> = self
            .blocking(move |c| {
                c.transaction(|c| {
                    let Some(x) = lock_live_execution(c, &eid)? else {
                        return Ok(None);
                    };
                    let resumed = x.status == ExecutionStatus::Running;
                    diesel::update(e::table.find(&eid))
                        .set((
                            e::status.eq(ExecutionStatus::Running),
                            e::worker_id.eq(&worker),
                            e::attempts.eq(attempt),
                            e::started_at.eq(x.started_at.unwrap_or_else(chrono::Utc::now)),
                        ))
                        .execute(c)?;
                    diesel::update(t::table.find(&x.task_id))
                        .set((
                            t::status.eq(TaskStatus::InProgress),
                            t::current_execution_id.eq(&eid),
                            t::started_at.eq(diesel::dsl::sql::<
                                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                            >(
                                "coalesce(started_at, now())"
                            )),
                        ))
                        .execute(c)?;
                    Ok(Some((x, resumed)))
                })
            })
            .await?;
        let Some((x, resumed)) = claimed else {
            return Ok(());
        };
        let logger = self.logger(&x.task_id, &execution_id)?;
        if resumed {
            logger.log(
                "WARNING",
                None,
                &format!(
                    "execution resumed by worker {} (attempt {attempt}): {}",
                    ctx.worker_id,
                    ctx.job
                        .last_error
                        .as_deref()
                        .unwrap_or("previous worker stopped")
                ),
            );
        }
        if x.cancel_requested {
            let eid = execution_id.clone();
            self.blocking(move |c| {
                finish_execution(
                    c,
                    &eid,
                    ExecutionStatus::Cancelled,
                    Some("cancelled by request"),
                )
            })
            .await?;
            return Ok(());
        }

        let mut cmd = tokio::process::Command::new(&self.cfg.child_exe);
        cmd.args(&self.cfg.child_args)
            .arg(&execution_id)
            .env("DATABASE_URL", &self.cfg.database_url)
            .env("BKDATA_DATA_DIR", &self.cfg.data_root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        crate::child::die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            PipelineError::Internal(format!(
                "cannot start {}: {e}",
                self.cfg.child_exe.display()
            ))
        })?;
        self.running.fetch_add(1, Ordering::SeqCst);
        let _running = scopeguard(self.running.clone());
        let pid = child.id().map(|p| p as i32);
        let eid = execution_id.clone();
        self.blocking(move |c| {
            Ok(diesel::update(e::table.find(&eid))
                .set(e::child_pid.eq(pid))
                .execute(c)?)
        })
        .await?;
        let stderr_tail = tokio::spawn(read_tail(child.stderr.take()));

        let mut lease_lost = ctx.lease_lost.clone();
        let mut tick = tokio::time::interval(self.cfg.cancel_poll);
        let mut cancelled = false;
        let status = loop {
            tokio::select! {
                st = child.wait() => break st?,
                _ = tick.tick(), if !cancelled => {
                    let eid = execution_id.clone();
                    let want = self
                        .blocking(move |c| Ok(e::table.find(&eid).select(e::cancel_requested).first::<bool>(c)?))
                        .await
                        .unwrap_or(false);
                    if want {
                        cancelled = true;
                        logger.log("WARNING", None, "cancel requested: stopping the execution's process");
                        let _ = child.start_kill();
                    }
                }
                changed = lease_lost.changed() => {
                    if changed.is_err() || *lease_lost.borrow() {
                        let _ = child.start_kill();
                        let _ = child.wait().await;
                        logger.log("ERROR", None, "this worker is shutting down or lost the job's lease: the execution process was stopped; another worker resumes it");
                        return Err(PipelineError::unavailable("lease lost"));
                    }
                }
            }
        };
        let tail = stderr_tail.await.unwrap_or_default();
        let eid = execution_id.clone();
        let reason = if cancelled {
            None
        } else if status.success() {
            Some("the execution process exited without finishing the execution".to_string())
        } else {
            Some(format!(
                "the execution process {}",
                describe(&status, &tail)
            ))
        };
        let reason2 = reason.clone();
        let ended = self
            .blocking(move |c| match &reason2 {
                None => finish_execution(
                    c,
                    &eid,
                    ExecutionStatus::Cancelled,
                    Some("cancelled by request"),
                ),
                Some(r) => finish_execution(c, &eid, ExecutionStatus::Failed, Some(r)),
            })
            .await?;
        if ended {
            match reason {
                None => logger.log("WARNING", None, "execution cancelled"),
                Some(r) => logger.log("ERROR", None, &format!("execution failed: {r}")),
            }
        }
        Ok(())
    }
}

fn describe(status: &std::process::ExitStatus, tail: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (_, Some(sig)) => format!("was killed by signal {sig}"),
        (Some(code), _) => format!("exited with code {code}"),
        _ => "ended".to_string(),
    };
    let tail = tail.trim();
    if tail.is_empty() {
        how
    } else {
        format!("{how}: {tail}")
    }
}

struct RunningGuard(Arc<AtomicUsize>);
impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
fn scopeguard(c: Arc<AtomicUsize>) -> RunningGuard {
    RunningGuard(c)
}

/// The last 4 KiB of the child's stderr (a panic message lands there).
async fn read_tail(stderr: Option<tokio::process::ChildStderr>) -> String {
    use tokio::io::AsyncReadExt;
    let Some(mut s) = stderr else {
        return String::new();
    };
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
        if all.len() > 8192 {
            all.drain(..all.len() - 4096);
        }
    }
    let start = all.len().saturating_sub(4096);
    String::from_utf8_lossy(&all[start..]).to_string()
}

/// The execute job's payload: which execution (a whole task or one step) to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExecutionRun {
    pub execution_id: String,
}

impl Job for ExecuteJob {
    const NAME: &'static str = "pipeline_execute";
    const MAX_ATTEMPTS: i32 = 3;
    type Payload = ExecutionRun;

    fn run(&self, job: ExecutionRun, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        let this = self.clone();
        Box::pin(async move { Ok(this.run_job(job, ctx).await?) })
    }

    /// The job ran out of attempts because its workers kept dying: fail the execution.
    fn abandoned(&self, run: ExecutionRun, job: ClaimedJob) -> BoxFuture<'static, ()> {
        let this = self.clone();
        Box::pin(async move {
            let eid = run.execution_id;
            let reason = format!(
                "given up after {} attempt(s): {}",
                job.attempts,
                job.last_error.unwrap_or_else(|| "worker lost".into())
            );
            let (eid2, reason2) = (eid.clone(), reason.clone());
            let res = this
                .blocking(move |c| {
                    let task_id: Option<String> = e::table
                        .find(&eid2)
                        .select(e::task_id)
                        .first(c)
                        .optional()?;
                    let ended =
                        finish_execution(c, &eid2, ExecutionStatus::Failed, Some(&reason2))?;
                    Ok(task_id.filter(|_| ended))
                })
                .await;
            match res {
                Ok(Some(task_id)) => {
                    if let Ok(l) = this.logger(&task_id, &eid) {
                        l.log("ERROR", None, &format!("execution failed: {reason}"));
                    }
                }
                Ok(None) => {}
                Err(err) => log::error!("could not fail abandoned execution {eid}: {err}"),
            }
        })
    }
}
